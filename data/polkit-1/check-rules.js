// Evaluate the built polkit rules with a stand-in for polkitd's "polkit"
// object and check the decisions the shipped file promises.
// Usage: node check-rules.js <built 50-org.anyd1.rules> <admin group>
// (The integration tests load the same file into a real polkitd.)
'use strict';
const fs = require('fs');
const vm = require('vm');

const [file, group] = process.argv.slice(2);
const rules = [];
const Result = {
  NO: 'no', YES: 'yes', AUTH_SELF: 'auth_self', AUTH_SELF_KEEP: 'auth_self_keep',
  AUTH_ADMIN: 'auth_admin', AUTH_ADMIN_KEEP: 'auth_admin_keep', NOT_HANDLED: null,
};
const polkit = {
  Result,
  addRule: (f) => rules.push(f),
  addAdminRule: () => {},
  log: () => {},
  spawn: () => { throw new Error('rules must not spawn'); },
};
const text = fs.readFileSync(file, 'utf8');
vm.runInNewContext(text, { polkit }, { filename: file });

// The commented-out example (group web may restart nginx.service but not
// stop it) must work once uncommented: evaluate it on its own.
const example = /^\/\/ polkit\.addRule\([\s\S]*?^\/\/ \}\);$/m.exec(text);
const exampleRules = [];
if (example)
  vm.runInNewContext(example[0].replace(/^\/\/ ?/gm, ''),
                     { polkit: { ...polkit, addRule: (f) => exampleRules.push(f) } });

function decide(id, groups, details, set) {
  const action = { id, lookup: (k) => (details || {})[k] };
  const subject = {
    user: 'alice', groups, local: true, active: true,
    isInGroup: (g) => groups.includes(g), isInNetGroup: () => false,
  };
  for (const r of set || rules) {
    const res = r(action, subject);
    if (res !== null && res !== undefined)
      return res;
  }
  return null;
}

const expect = [
  ['org.anyd1.manage', 'yes'],
  ['org.anyd1.tun.manage', 'yes'],
  ['org.anyd1.vpn.connect', 'yes'],
  ['org.anyd1.vpn.manage', 'yes'],
  ['org.anyd1.services.manage', 'yes'],
  ['org.anyd1.vault.read', 'auth_self_keep'],
  ['org.anyd1.vault.write', 'auth_self_keep'],
  ['org.anyd1.vault.use-key', 'auth_self_keep'],
  ['org.anyd1.vault.manage-keys', 'auth_self_keep'],
  ['org.anyd1.files.read', 'auth_self_keep'],
  ['org.anyd1.files.write', 'auth_self_keep'],
];
let failed = 0;
function check(what, got, want) {
  const ok = got === want;
  if (!ok) failed++;
  console.log(`${ok ? 'ok' : 'FAIL'} ${what}: ${got} (want ${want})`);
}
for (const [id, want] of expect) {
  check(`${id} as member of ${group}`, decide(id, [group], { unit: 'x.service', verb: 'stop' }), want);
  check(`${id} as non-member`, decide(id, ['users']), null);
}
check(`foreign action as member of ${group}`, decide('org.freedesktop.login1.reboot', [group]), null);
check('look-alike action id', decide('org.anyd1x.manage', [group]), null);
const web = (verb, unit) =>
  decide('org.anyd1.services.manage', ['web'], { unit: unit || 'nginx.service', verb }, exampleRules);
check('example: web restarts nginx.service', web('restart'), 'yes');
check('example: web stops nginx.service', web('stop'), 'no');
check('example: web restarts redis.service', web('restart', 'redis.service'), null);
if (exampleRules.length !== 1) { console.log('FAIL example rule not found'); failed++; }
if (rules.length === 0) { console.log('FAIL no rule registered'); failed++; }
process.exit(failed ? 1 : 0);

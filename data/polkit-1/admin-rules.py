#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Build 50-org.anyd1.rules from its template and anyd's .policy files:
# each action's org.anyd1.admin-group annotation ("yes", "auth_self_keep",
# ..., or "no_rule") becomes one entry of the table the rule looks up, so a
# module brings its admin-group answers in its own .policy file.
# Usage: admin-rules.py ADMIN_GROUP OUTPUT TEMPLATE POLICY...
import sys
import xml.etree.ElementTree as ET

KEY = 'org.anyd1.admin-group'
RESULTS = {'yes': 'YES', 'no': 'NO', 'auth_self': 'AUTH_SELF', 'auth_self_keep': 'AUTH_SELF_KEEP',
           'auth_admin': 'AUTH_ADMIN', 'auth_admin_keep': 'AUTH_ADMIN_KEEP'}

group, output, template, *policies = sys.argv[1:]
entries = []
for path in policies:
    for action in ET.parse(path).getroot().iter('action'):
        aid = action.get('id')
        values = [a.text.strip() for a in action.iter('annotate') if a.get('key') == KEY]
        if len(values) != 1:
            sys.exit('%s: action %s needs exactly one <annotate key="%s">' % (path, aid, KEY))
        if values[0] == 'no_rule':
            continue
        if values[0] not in RESULTS:
            sys.exit('%s: action %s: %s must be one of %s or no_rule'
                     % (path, aid, KEY, ', '.join(RESULTS)))
        entries.append('        "%s": polkit.Result.%s,' % (aid, RESULTS[values[0]]))
if not entries:
    sys.exit('no actions found in %s' % ' '.join(policies))
with open(template) as f:
    text = f.read()
text = text.replace('@ADMIN_GROUP@', group).replace('@ADMIN_RESULTS@', '\n'.join(sorted(entries)))
with open(output, 'w') as f:
    f.write(text)

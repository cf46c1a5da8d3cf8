# SPDX-License-Identifier: LGPL-2.1-or-later
# fish completion for anyd-client: the client completes itself
# (`anyd-client __complete WORD… CURRENT`).

function __anyd_client_complete
    set -l words (commandline -opc)
    for line in (anyd-client __complete $words[2..-1] (commandline -ct) 2>/dev/null)
        switch $line
            case :files
                __fish_complete_path (commandline -ct)
            case :hosts
                __fish_print_hostnames
            case :users
                __fish_complete_users
            case :groups
                __fish_complete_groups
            case '*'
                echo $line
        end
    end
end

complete -c anyd-client -f -a '(__anyd_client_complete)'

# bash completion for fputrace                              -*- shell-script -*-
#
# The subcommands and their options are those `fputrace SUBCOMMAND --help`
# prints (src/cli/main.cpp). Works with or without the bash-completion package:
# its helpers (_filedir, _command_offset) are used only when they are defined.
# Installed as /usr/share/bash-completion/completions/fputrace.

# _fputrace_dequote WORD: WORD as the shell would read it, quotes and
# backslashes removed (nothing expanded), in REPLY.
_fputrace_dequote()
{
    local s=$1 c q='' i
    REPLY=
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        if [[ $q == "'" ]]; then
            if [[ $c == "'" ]]; then q=; else REPLY+=$c; fi
        elif [[ $q == '"' ]]; then
            if [[ $c == '"' ]]; then
                q=
            elif [[ $c == \\ && ${s:i+1:1} == [\"\\\$\`] ]]; then
                REPLY+=${s:i+1:1}
                ((i++))
            else
                REPLY+=$c
            fi
        else
            case $c in
                "'" | '"') q=$c ;;
                \\)
                    ((i++))
                    REPLY+=${s:i:1}
                    ;;
                *) REPLY+=$c ;;
            esac
        fi
    done
}

# _fputrace_words WORDS: those of WORDS that complete $cur.
_fputrace_words()
{
    mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur")
}

# _fputrace_paths -f|-d: file names (-f) or directory names (-d) that complete $cur.
_fputrace_paths()
{
    if declare -F _filedir >/dev/null 2>&1; then
        if [[ $1 == -d ]]; then _filedir -d; else _filedir; fi
        return
    fi
    compopt -o filenames 2>/dev/null
    _fputrace_dequote "$cur"
    local -a found
    mapfile -t found < <(compgen "$1" -- "$REPLY")
    COMPREPLY+=("${found[@]}")
}

# _fputrace_mounts: the mount points (field 5 of /proc/self/mountinfo, its
# octal escapes such as \040 undone) that complete $cur; directories when none does.
_fputrace_mounts()
{
    local mp m
    local -A seen=()
    local -a found=()
    _fputrace_dequote "$cur"
    local want=$REPLY
    if [[ -r /proc/self/mountinfo ]]; then
        while read -r _ _ _ _ mp _; do
            # The kernel escapes space, tab, newline and backslash as \ooo.
            printf -v m '%b' "${mp//\\/\\0}"
            [[ -n $m && -z ${seen[$m]+set} ]] || continue
            seen[$m]=1
            [[ $m == "$want"* ]] && found+=("$m")
        done </proc/self/mountinfo
    fi
    if ((${#found[@]})); then
        compopt -o filenames 2>/dev/null
        COMPREPLY+=("${found[@]}")
    else
        _fputrace_paths -d
    fi
}

# _fputrace_command START: the words from index START on are a command and its
# arguments (as after `--`): a command name, then what that command completes.
_fputrace_command()
{
    local start=$1
    if ((COMP_CWORD == start)); then
        local -a found
        mapfile -t found < <(compgen -c -- "$cur")
        COMPREPLY+=("${found[@]}")
    elif declare -F _command_offset >/dev/null 2>&1; then
        _command_offset "$start"
    else
        _fputrace_paths -f
    fi
}

_fputrace()
{
    COMPREPLY=()
    local cword=$COMP_CWORD cur=${COMP_WORDS[COMP_CWORD]}
    local -a words=("${COMP_WORDS[@]}")
    local i w

    # `--backend=kprobe` arrives as `--backend` `=` `kprobe` when `=` is in
    # COMP_WORDBREAKS: glue such option words back together.
    local -a glued=()
    local gcword=0
    for ((i = 0; i < ${#words[@]}; i++)); do
        w=${words[i]}
        if [[ $w == = && ${#glued[@]} -gt 1 && ${glued[-1]} == --?* && ${glued[-1]} != *=* ]]; then
            glued[-1]+='='
            ((i == cword)) && gcword=$((${#glued[@]} - 1))
            if ((i + 1 < ${#words[@]})) && [[ ${words[i + 1]} != = ]]; then
                ((i++))
                glued[-1]+=${words[i]}
                ((i == cword)) && gcword=$((${#glued[@]} - 1))
            fi
            continue
        fi
        ((i == cword)) && gcword=${#glued[@]}
        glued+=("$w")
    done
    words=("${glued[@]}")
    cword=$gcword
    cur=${words[cword]}

    # The subcommand: the first word that is not an option (only -h/--help are global).
    local sub='' si=0
    for ((i = 1; i < cword; i++)); do
        if [[ ${words[i]} != -* ]]; then
            sub=${words[i]} si=$i
            break
        fi
    done
    if [[ -z $sub ]]; then
        if [[ $cur == -* ]]; then
            _fputrace_words '-h --help'
        else
            _fputrace_words 'watch record report doctor busy umount'
        fi
        return 0
    fi

    # opts: every option; vopts: those that take a value; pos: the positional
    # argument (mount, file or nothing); cmd: whether `-- COMMAND` follows.
    local opts vopts pos='' cmd=''
    case $sub in
        watch)
            opts='-h --help --json -o --output --journal --journal-export --metrics-file --mount --backend --events'
            opts+=' --cgroup --container'
            vopts='-o --output --metrics-file --mount --backend --events --cgroup --container'
            cmd=1
            ;;
        record)
            opts='-h --help -o --output --mount --backend --duration --events --format --cgroup --container'
            vopts='-o --output --mount --backend --duration --events --format --cgroup --container'
            cmd=1
            ;;
        report)
            opts='-h --help --json --html'
            vopts='--html'
            pos='file'
            ;;
        doctor)
            opts='-h --help --json'
            vopts=
            ;;
        busy)
            opts='-h --help --json --watch-ms --backend --cgroup --container'
            vopts='--watch-ms --backend --cgroup --container'
            pos='mount'
            ;;
        umount)
            opts='-h --help --timeout -f --force -l --lazy --json --backend --cgroup --container'
            vopts='--timeout --backend --cgroup --container'
            pos='mount'
            cmd=1
            ;;
        *) return 0 ;;
    esac

    # Walk the words before the cursor as CLI11 reads them: an option in vopts
    # takes the next word, --mount keeps taking words until the next option,
    # and `--` ends the options.
    local npos=0 dd=0 valopt='' more='' used=' ' j
    for ((i = si + 1; i < cword; i++)); do
        w=${words[i]}
        if [[ $w == -- ]]; then
            dd=$i
            break
        fi
        if [[ $w == -* ]]; then
            used+="${w%%=*} "
            if [[ $w =~ ^-[A-Za-z]{2,}$ ]]; then # -fl
                for ((j = 1; j < ${#w}; j++)); do used+="-${w:j:1} "; done
            fi
            more=
            if [[ $w != *=* && " $vopts " == *" $w "* ]]; then
                ((i + 1 == cword)) && valopt=$w
                ((i++))
            fi
            [[ $w == --mount || $w == --mount=* ]] && more=1
            continue
        fi
        [[ -n $more ]] && continue
        ((npos++))
    done

    # After `--`: the positional argument if still missing, then the command.
    if ((dd)); then
        local start=$((dd + 1))
        if [[ -n $pos ]] && ((npos == 0)); then
            if ((cword == start)); then
                if [[ $pos == mount ]]; then _fputrace_mounts; else _fputrace_paths -f; fi
                return 0
            fi
            ((start++))
        fi
        [[ -n $cmd ]] && _fputrace_command "$start"
        return 0
    fi

    # --option=VALUE
    local prefix=''
    if [[ -z $valopt && $cur == --*=* && " $vopts " == *" ${cur%%=*} "* ]]; then
        valopt=${cur%%=*}
        cur=${cur#*=}
        # Readline replaces only what follows a word break: keep the option
        # in the reply unless `=` is one.
        [[ $COMP_WORDBREAKS == *=* ]] || prefix=$valopt=
    elif [[ -z $valopt && -n $more && $cur != -* ]]; then
        valopt=--mount # another --mount value
    fi

    if [[ -n $valopt ]]; then
        case $valopt in
            --backend) _fputrace_words 'auto fentry kprobe tracepoint' ;;
            --format) _fputrace_words 'chrome jsonl' ;;
            -o | --output | --events | --html | --metrics-file) _fputrace_paths -f ;;
            --mount) _fputrace_mounts ;;
            --cgroup) _fputrace_paths -d ;;
            *) ;; # --container ID, --duration S, --watch-ms N, --timeout S: free text
        esac
        if [[ -n $prefix ]]; then
            for i in "${!COMPREPLY[@]}"; do COMPREPLY[i]=$prefix${COMPREPLY[i]}; done
        fi
        return 0
    fi

    if [[ $cur != -* && -n $pos ]] && ((npos == 0)); then
        if [[ $pos == mount ]]; then _fputrace_mounts; else _fputrace_paths -f; fi
        return 0
    fi
    # Options not given yet (--mount may be repeated), nor excluded by one
    # given: watch --journal excludes --output and --journal-export, report
    # --json excludes --html (and the other way round).
    local o g gone
    local -a left=()
    for o in $opts; do
        case $sub:$o in
            *:-o | *:--output) gone='-o --output --journal' ;;
            *:-f | *:--force) gone='-f --force' ;;
            *:-l | *:--lazy) gone='-l --lazy' ;;
            *:-h | *:--help) gone='-h --help' ;;
            *:--mount) gone= ;;
            watch:--journal) gone='--journal -o --output --journal-export' ;;
            watch:--journal-export) gone='--journal-export --journal' ;;
            report:--json | report:--html) gone='--json --html' ;;
            *) gone=$o ;;
        esac
        for g in $gone; do [[ $used == *" $g "* ]] && continue 2; done
        left+=("$o")
    done
    _fputrace_words "${left[*]}"
    return 0
}

complete -F _fputrace fputrace

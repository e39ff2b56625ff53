#!/usr/bin/env bash
# Shell completion for fputrace, checked by running it: the bash function with
# COMP_WORDS set as readline sets them (without bash-completion, and loaded by
# bash-completion when it is installed), and zsh's through a pseudo-terminal
# (zsh/zpty) with compadd wrapped to print what it is given.
#
#   completion-check.sh DIR                 DIR holds fputrace.bash (or fputrace) and _fputrace
#   completion-check.sh BASH-DIR ZSH-DIR    e.g. /usr/share/bash-completion/completions
#                                                /usr/share/zsh/vendor-completions
#   completion-check.sh BASH-FILE ZSH-FILE  the zsh file must be named _fputrace
#
# The subcommands, options and option values expected are read from
# `fputrace [SUBCOMMAND] --help` (FPUTRACE=/path/to/fputrace, default: fputrace
# on PATH, else /usr/sbin/fputrace or /usr/bin/fputrace). Needs bash, zsh with
# zsh/zpty, and a mount namespace (root, or unprivileged user namespaces) for
# the mount points whose names the kernel escapes. bash-completion is optional:
# without it the bash cases run once, without its helpers.
# Prints one line per check; exits 1 if any failed, 2 if it could not run.
set -uo pipefail

me=completion-check
die() {
  echo "$me: $*" >&2
  exit 2
}

# ---------------------------------------------------------------------------
# The namespaced part: mount two tmpfs whose names /proc/self/mountinfo escapes
# (\040 for the space, \134 for the backslash) and ask both shells for them.
if [[ ${1:-} == --in-mount-namespace ]]; then
  work=$2
  if ! mount -t tmpfs fputrace-check "$work/mnt point" || ! mount -t tmpfs fputrace-check "$work/back\\slash"; then
    echo "FAIL mounting tmpfs in the new mount namespace failed"
    exit 1
  fi
  grep -F "$work/" /proc/self/mountinfo | sed 's/^/     mountinfo: /'
  exec bash "$FC_SELF" --escaped-cases-only
fi

# ---------------------------------------------------------------------------
# Arguments: where the two completion files are.
bash_file='' zsh_file=''
if [[ ${1:-} == --escaped-cases-only ]]; then
  bash_file=$FC_BASH_FILE zsh_file=$FC_ZSH_FILE
else
  (($# >= 1)) || die "usage: $0 DIR | BASH-DIR ZSH-DIR | BASH-FILE ZSH-FILE"
  for arg in "$@"; do
    if [[ -d $arg ]]; then
      for f in "$arg/fputrace.bash" "$arg/fputrace"; do
        [[ -z $bash_file && -f $f ]] && bash_file=$f
      done
      [[ -z $zsh_file && -f $arg/_fputrace ]] && zsh_file=$arg/_fputrace
    elif [[ -f $arg ]]; then
      if [[ ${arg##*/} == _fputrace ]]; then zsh_file=$arg; else bash_file=$arg; fi
    else
      die "no such file or directory: $arg"
    fi
  done
  [[ -n $bash_file ]] || die "no bash completion (fputrace.bash or fputrace) in: $*"
  [[ -n $zsh_file ]] || die "no zsh completion (_fputrace) in: $*"
  bash_file=$(realpath -- "$bash_file") zsh_file=$(realpath -- "$zsh_file")
fi

checks=0 failures=0
pass() {
  checks=$((checks + 1))
  echo "ok   $*"
}
fail() {
  checks=$((checks + 1)) failures=$((failures + 1))
  echo "FAIL $*"
}

# Sets are lists, one item a line; a trailing / (a directory) is not compared.
norm() { sed -e '/^$/d' -e 's|\(.\)/$|\1|' | LC_ALL=C sort -u; }
show() {  # show LIST: its items on one line, or how many there are
  local n
  n=$(printf '%s\n' "$1" | sed '/^$/d' | wc -l)
  if ((n == 0)); then
    echo "(nothing)"
  elif ((n > 10)); then
    echo "$n items"
  else
    printf '%s\n' "$1" | sed '/^$/d' | paste -sd ' ' -
  fi
}

# expect KIND LABEL WANT GOT
#   exact: GOT is the set WANT; has: GOT includes WANT; none: GOT is empty;
#   names: as exact, comparing the last path component only (zsh lists paths so).
expect() {
  local kind=$1 label=$2 want got
  want=$(printf '%s\n' "$3" | norm) got=$(printf '%s\n' "$4" | norm)
  if [[ $kind == names ]]; then
    want=$(printf '%s\n' "$want" | sed 's|.*/\(.\)|\1|' | norm)
    got=$(printf '%s\n' "$got" | sed 's|.*/\(.\)|\1|' | norm)
  fi
  case $kind in
    exact | names)
      if [[ $want == "$got" ]]; then
        pass "$label -> $(show "$got")"
      else
        local missing extra
        missing=$(LC_ALL=C comm -23 <(printf '%s\n' "$want") <(printf '%s\n' "$got"))
        extra=$(LC_ALL=C comm -13 <(printf '%s\n' "$want") <(printf '%s\n' "$got"))
        fail "$label: expected $(show "$want"), got $(show "$got") (missing: $(show "$missing"); unexpected: $(show "$extra"))"
      fi
      ;;
    has)
      local missing
      missing=$(LC_ALL=C comm -23 <(printf '%s\n' "$want") <(printf '%s\n' "$got"))
      if [[ -n $got && -z $missing ]]; then
        pass "$label -> includes $(show "$want") ($(show "$got"))"
      else
        fail "$label: must include $(show "$want"), got $(show "$got")"
      fi
      ;;
    none)
      if [[ -z $got ]]; then pass "$label -> $(show "")"; else fail "$label: expected nothing, got $(show "$got")"; fi
      ;;
  esac
}

work=$(mktemp -d /tmp/fputrace-completion.XXXXXX) || die "mktemp failed"
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------------------
# The probes. bash: a fresh `bash --norc` per case, COMP_WORDS split as
# readline splits them (at spaces and around `=`).
# shellcheck disable=SC2016 # expanded by the bash it runs in
bash_probe='
mode=$1 file=$2 line=$3
shift 3
if [[ $mode == bash-completion ]]; then
  source /usr/share/bash-completion/bash_completion || exit 3
  if declare -F _comp_load >/dev/null; then _comp_load fputrace; else __load_completion fputrace; fi
else
  source "$file" || exit 3
fi
spec=$(complete -p fputrace 2>/dev/null)
if [[ $spec != "complete -F _fputrace fputrace" ]]; then
  echo "complete -p fputrace gives: ${spec:-nothing}" >&2
  exit 3
fi
COMP_WORDS=("$@") COMP_CWORD=$(($# - 1)) COMP_LINE=$line COMP_POINT=${#line} COMP_TYPE=9 COMP_KEY=9
_fputrace fputrace "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" || exit 4
printf "%s\n" "${COMPREPLY[@]}"
'

# split_words LINE: LINE in words as readline gives them to a completion
# function (backslash-escaped spaces stay in their word), into `words`.
split_words() {
  local line=$1 w='' c i
  words=()
  for ((i = 0; i < ${#line}; i++)); do
    c=${line:i:1}
    if [[ $c == \\ ]]; then
      w+=${line:i:2}
      ((i++))
    elif [[ $c == ' ' ]]; then
      [[ -n $w ]] && words+=("$w")
      w=
    elif [[ $c == = ]]; then
      words+=("$w" "=")
      w=
    else
      w+=$c
    fi
  done
  if [[ -n $w ]]; then
    words+=("$w")
  elif [[ $line == *' ' ]]; then
    words+=("")
  fi
}

bash_mode=plain
bash_complete() {  # bash_complete LINE
  local -a words
  split_words "$1"
  (cd "$work/cwd" && env -i HOME="$work/home" PATH="$PATH" BASH_COMPLETION_USER_DIR="$work/xdg/bash-completion" \
    bash --norc --noprofile -c "$bash_probe" fc-probe "$bash_mode" "$bash_file" "$1" "${words[@]}")
}

# zsh: a fresh `zsh -f -i` in a zpty per case, LINE typed and then TAB.
cat >"$work/zinit.zsh" <<'EOF'
PS1= PROMPT= RPROMPT= PS2=
unsetopt zle_bracketed_paste 2>/dev/null
fpath=("$FC_ZSH_DIR" $fpath)
autoload -U compinit && compinit -u -D
zstyle ':completion:*' insert-tab false
bindkey '^I' complete-word
_fc_end() { print -r -- "@@FC""-END@@" }
comppostfuncs=(_fc_end)
# Every match offered passes through compadd; -O, -A and -D only ask.
compadd() {
  if [[ "${(j: :)${@[1,(i)(-|--)]}} " == *-[A-Za-z]#[OAD]\ * ]]; then
    builtin compadd "$@"
    return
  fi
  local -a fc_hits
  builtin compadd -O fc_hits "$@"
  local h
  for h in "${fc_hits[@]}"; do print -r -- "@@FC-M@@$h"; done
  builtin compadd "$@"
}
print -r -- "@@FC""-READY@@"
EOF
cat >"$work/zdrive.zsh" <<'EOF'
zmodload zsh/zpty zsh/datetime || exit 3
init=$1
shift
local line buf chunk deadline l
for line in "$@"; do
  zpty fc zsh -f -i || exit 3
  zpty -w fc "source ${(q)init}"
  buf= deadline=$(( EPOCHREALTIME + 20 ))
  while [[ $buf != *@@FC-READY@@* ]] && (( EPOCHREALTIME < deadline )); do
    zpty -rt fc chunk && buf+=$chunk || sleep 0.02
  done
  zpty -w -n fc "$line"$'\t'
  buf= deadline=$(( EPOCHREALTIME + 20 ))
  while [[ $buf != *@@FC-END@@* ]] && (( EPOCHREALTIME < deadline )); do
    zpty -rt fc chunk && buf+=$chunk || sleep 0.02
  done
  zpty -d fc
  print -r -- "@@LINE $line"
  [[ $buf == *@@FC-END@@* ]] || print -r -- "@@TIMEOUT"
  for l in "${(@f)buf//$'\r'/}"; do
    [[ $l == *@@FC-M@@* ]] && print -r -- "${l##*@@FC-M@@}"
  done
done
exit 0
EOF

declare -A zres=()
zsh_run() {  # zsh_run LINE...: fills zres[LINE]
  local out l cur=
  out=$(cd "$work/cwd" && env -i HOME="$work/home" PATH="$PATH" TERM=dumb FC_ZSH_DIR="${zsh_file%/*}" \
    zsh -f "$work/zdrive.zsh" "$work/zinit.zsh" "$@") || return 1
  while IFS= read -r l; do
    if [[ $l == "@@LINE "* ]]; then
      cur=${l#@@LINE }
      zres[$cur]=
    elif [[ $l == @@TIMEOUT ]]; then
      zres[$cur]=@@TIMEOUT
    elif [[ ${zres[$cur]} != @@TIMEOUT ]]; then
      zres[$cur]+=$l$'\n'
    fi
  done <<<"$out"
}

# ---------------------------------------------------------------------------
# The cases: C_KIND, C_LINE (what is typed before TAB), C_WANT.
C_KIND=() C_LINE=() C_WANT=()
case_() {
  C_KIND+=("$1") C_LINE+=("$2") C_WANT+=("${3-}")
}

# run_cases SHELL: each case against one shell.
run_cases() {
  local sh=$1 i got label
  for i in "${!C_LINE[@]}"; do
    label="$sh: ${C_LINE[i]}<TAB>"
    if [[ $sh == zsh ]]; then
      got=${zres[${C_LINE[i]}]-@@TIMEOUT}
      if [[ $got == @@TIMEOUT ]]; then
        fail "$label: zsh gave no answer (no end of completion seen within 20 s)"
        continue
      fi
    else
      if ! got=$(bash_complete "${C_LINE[i]}" 2>"$work/stderr"); then
        fail "$label: the completion function failed: $(head -c 300 "$work/stderr")"
        continue
      fi
    fi
    if [[ -s $work/stderr && $sh != zsh ]]; then
      fail "$label: wrote to stderr: $(head -c 300 "$work/stderr")"
      : >"$work/stderr"
      continue
    fi
    expect "${C_KIND[i]}" "$label" "${C_WANT[i]}" "$got"
  done
}

mount_points() {  # field 5 of /proc/self/mountinfo, \ooo escapes undone
  local mp m
  while read -r _ _ _ _ mp _; do
    printf -v m '%b' "${mp//\\/\\0}"
    printf '%s\n' "$m"
  done </proc/self/mountinfo | LC_ALL=C sort -u
}

# ---------------------------------------------------------------------------
# The namespaced run (see the top): only the escaped mount point cases.
if [[ ${1:-} == --escaped-cases-only ]]; then
  work_ns=$FC_WORK
  mkdir -p "$work/cwd" "$work/home"
  case_ exact "fputrace busy $work_ns/mnt" "$work_ns/mnt point"
  case_ exact "fputrace busy $work_ns/mnt\\ p" "$work_ns/mnt point"
  case_ exact "fputrace umount $work_ns/back" "$work_ns/back\\slash"
  case_ exact "fputrace watch --mount $work_ns/" "$work_ns/mnt point"$'\n'"$work_ns/back\\slash"
  if [[ $(mount_points) != *"$work_ns/mnt point"* ]]; then
    fail "the tmpfs at '$work_ns/mnt point' is not in /proc/self/mountinfo"
  else
    bash_mode=plain
    run_cases bash
    if [[ -r /usr/share/bash-completion/bash_completion ]]; then
      mkdir -p "$work/xdg/bash-completion/completions"
      cp "$bash_file" "$work/xdg/bash-completion/completions/fputrace"
      bash_mode=bash-completion
      run_cases bash+bash-completion
    fi
    zsh_run "${C_LINE[@]}" || fail "zsh: the zpty driver failed"
    run_cases zsh
  fi
  echo "@@COUNTS $checks $failures"
  exit $((failures > 0))
fi

# ---------------------------------------------------------------------------
# What is expected, from the binary's own --help.
if [[ -z ${FPUTRACE:-} ]]; then
  FPUTRACE=$(command -v fputrace || true)
  for f in /usr/sbin/fputrace /usr/bin/fputrace; do
    [[ -z $FPUTRACE && -x $f ]] && FPUTRACE=$f
  done
fi
[[ -n $FPUTRACE && -x $FPUTRACE ]] ||
  die "no fputrace binary to read the expected options from: put it on PATH or set FPUTRACE=/path/to/fputrace"

help_section() {  # help_section SECTION [SUBCOMMAND]: first words of the lines of SECTION
  "$FPUTRACE" "${@:2}" --help | awk -v s="$1:" '$0 == s {on = 1; next} /^[^ ]/ {on = 0} on && /^  [^ ]/ {print $1}'
}
help_values() {  # help_values OPTION SUBCOMMAND: the values of OPTION's {a,b,c}
  "$FPUTRACE" "$2" --help | sed -n "s/^  $1 [^{]*{\([^}]*\)}.*/\1/p" | tr ',' '\n'
}

help_excludes() {  # help_excludes SUBCOMMAND: NAMES|TAKES-A-VALUE|EXCLUDED for options that exclude others
  "$FPUTRACE" "$1" --help | awk '$0 == "Options:" {on = 1; next} /^[^ ]/ {on = 0}
    on && /^  -/ && / Excludes: / {
      ex = $0; sub(/.* Excludes: /, "", ex); sub(/  .*/, "", ex)
      print $1 "|" ($2 ~ /^[A-Z]+(:|$)/ ? 1 : 0) "|" ex }'
}

subcommands=$(help_section Subcommands)
[[ -n $subcommands ]] || die "$FPUTRACE --help lists no subcommands"
declare -A options=()
for s in $subcommands; do
  options[$s]=$(help_section Options "$s" | tr ',' '\n')
  [[ -n ${options[$s]} ]] || die "$FPUTRACE $s --help lists no options"
done
top_options=$(help_section Options | tr ',' '\n')
backends=$(help_values --backend watch)
formats=$(help_values --format record)
[[ -n $backends && -n $formats ]] || die "$FPUTRACE watch/record --help: no {values} after --backend or --format"
for s in watch record report doctor busy umount; do
  [[ $'\n'$subcommands$'\n' == *$'\n'$s$'\n'* ]] || die "$FPUTRACE --help has no subcommand $s: this check is out of date"
done

mounts=$(mount_points)
[[ -n $mounts ]] || die "/proc/self/mountinfo lists no mount points"
mounts_from() { printf '%s\n' "$mounts" | awk -v p="$1" 'index($0, p) == 1'; }

echo "$me: bash: $bash_file"
echo "$me: zsh:  $zsh_file"
echo "$me: expected subcommands, options and values from: $FPUTRACE"
echo "$me: $(printf '%s\n' "$mounts" | wc -l) mount points in /proc/self/mountinfo"

# A directory to complete file names in, and a command on PATH.
mkdir -p "$work/cwd/trace-dir" "$work/home" "$work/bin"
touch "$work/cwd/trace-a.json" "$work/cwd/trace-b.json" "$work/cwd/notes.txt"
printf '#!/bin/sh\n' >"$work/bin/fputrace-check-cmd"
chmod +x "$work/bin/fputrace-check-cmd"
PATH=$work/bin:$PATH
traces=$'trace-a.json\ntrace-b.json\ntrace-dir'

# ---------------------------------------------------------------------------
# Static checks.
if bash -n "$bash_file" 2>"$work/err"; then pass "bash -n $bash_file"; else fail "bash -n $bash_file: $(cat "$work/err")"; fi
if ! command -v zsh >/dev/null; then
  fail "zsh is not installed: the zsh completion cannot be checked (apt-get install zsh)"
else
  if zsh -n "$zsh_file" 2>"$work/err"; then pass "zsh -n $zsh_file"; else fail "zsh -n $zsh_file: $(cat "$work/err")"; fi
  if [[ $(head -n 1 "$zsh_file") == "#compdef fputrace" ]]; then
    pass "zsh: first line is #compdef fputrace"
  else
    fail "zsh: the first line of $zsh_file must be '#compdef fputrace', it is '$(head -n 1 "$zsh_file")'"
  fi
  # shellcheck disable=SC2016 # expanded by zsh
  zinfo=$(env -i HOME="$work/home" PATH="$PATH" zsh -f -c '
    fpath=("$1" $fpath); autoload -U compinit && compinit -u -D
    autoload +X _fputrace 2>/dev/null
    print -r -- "${_comps[fputrace]-}|${functions_source[_fputrace]-}|${+functions[_fputrace]}"' fc "${zsh_file%/*}" 2>&1)
  if [[ $zinfo == "_fputrace|$zsh_file|1" ]]; then
    pass "zsh: compinit maps fputrace to _fputrace, loaded from $zsh_file"
  else
    fail "zsh: compinit with ${zsh_file%/*} first in fpath: expected _comps[fputrace]=_fputrace from $zsh_file, got '$zinfo'"
  fi
fi
spec=$(bash --norc --noprofile -c 'source "$1" && complete -p fputrace' fc "$bash_file" 2>&1)
if [[ $spec == "complete -F _fputrace fputrace" ]]; then
  pass "bash: sourcing registers '$spec'"
else
  fail "bash: sourcing $bash_file must register 'complete -F _fputrace fputrace', got '$spec'"
fi

# ---------------------------------------------------------------------------
# The cases.
case_ exact "fputrace " "$subcommands"
case_ exact "fputrace wa" watch
case_ exact "fputrace re" $'record\nreport'
case_ exact "fputrace -" "$top_options"
for s in $subcommands; do
  case_ exact "fputrace $s -" "${options[$s]}"
  case_ exact "fputrace $s --" "$(printf '%s\n' "${options[$s]}" | grep '^--')"
done
case_ exact "fputrace doctor " "${options[doctor]}"
for s in $subcommands; do
  [[ $'\n'${options[$s]}$'\n' == *$'\n'--backend$'\n'* ]] && case_ exact "fputrace $s --backend " "$backends"
done
case_ exact "fputrace watch --backend=" "$backends"
case_ exact "fputrace umount --json --backend=k" kprobe
case_ exact "fputrace busy --backend f" fentry
case_ exact "fputrace record --format " "$formats"
case_ exact "fputrace record --format=j" jsonl
# Options already given are not offered again (--mount is repeatable).
case_ exact "fputrace report --json --" "--help"
case_ exact "fputrace umount -f --lazy --" "$(printf '%s\n' "${options[umount]}" | grep '^--' | grep -vx -e --force -e --lazy)"
case_ has "fputrace watch --mount / --" "--mount"
# Each option that --help says excludes others: once given, neither it nor those.
for s in $subcommands; do
  while IFS='|' read -r names takes excluded; do
    [[ -n $names ]] || continue
    long=${names##*,}
    # shellcheck disable=SC2086 # lists of option names
    gone=$(printf '%s\n' ${names//,/ } $excluded)
    value=
    ((takes)) && value="x "
    case_ exact "fputrace $s $long $value--" \
      "$(printf '%s\n' "${options[$s]}" | grep '^--' | grep -vxF -e "$gone")"
  done < <(help_excludes "$s")
done
# Mount points: all of /proc/self/mountinfo, wherever a mount point goes.
case_ has "fputrace busy " /
case_ exact "fputrace busy " "$mounts"
case_ exact "fputrace umount " "$mounts"
case_ exact "fputrace umount -f --json " "$mounts"
case_ exact "fputrace busy --backend kprobe " "$mounts"
case_ exact "fputrace watch --mount " "$mounts"
case_ exact "fputrace record --mount=" "$mounts"
case_ exact "fputrace watch --mount / " "$mounts" # CLI11 gives --mount every word up to the next option
case_ exact "fputrace umount -- " "$mounts"        # after --, the mount point comes first
case_ exact "fputrace busy /pro" "$(mounts_from /pro)"
case_ exact "fputrace watch --mount /proc /sys/" "$(mounts_from /sys/)"
case_ names "fputrace busy ./trace" trace-dir # no mount point matches: directories
case_ exact "fputrace busy /x " "${options[busy]}"
# File names.
case_ names "fputrace report trace" "$traces"
case_ names "fputrace report --html trace" "$traces"
case_ names "fputrace watch -o trace" "$traces"
case_ names "fputrace watch --output=trace" "$traces"
case_ names "fputrace watch --events trace" "$traces"
case_ names "fputrace record -o trace" "$traces"
case_ names "fputrace record --events=trace" "$traces"
case_ names "fputrace watch --cgroup ./trace" trace-dir # directories only
# Free-form values: nothing to offer.
case_ none "fputrace busy --watch-ms "
case_ none "fputrace umount --timeout "
case_ none "fputrace record --duration "
case_ none "fputrace watch --container "
# A command after --.
case_ exact "fputrace watch -- fputrace-check-c" fputrace-check-cmd
case_ exact "fputrace record -o t.json -- fputrace-check-c" fputrace-check-cmd
case_ exact "fputrace umount /mnt -- fputrace-check-c" fputrace-check-cmd
case_ exact "fputrace umount -- /mnt fputrace-check-c" fputrace-check-cmd
case_ exact "fputrace watch --mount / -- fputrace-check-c" fputrace-check-cmd
case_ has "fputrace watch -- fputrace-check-cmd trace" $'trace-a.json\ntrace-b.json'
case_ none "fputrace busy /mnt -- "

bash_mode=plain
run_cases bash
if [[ -r /usr/share/bash-completion/bash_completion ]]; then
  # As installed: bash-completion finds the file by the command's name.
  mkdir -p "$work/xdg/bash-completion/completions"
  cp "$bash_file" "$work/xdg/bash-completion/completions/fputrace"
  bash_mode=bash-completion
  run_cases bash+bash-completion
else
  echo "skip bash+bash-completion: /usr/share/bash-completion/bash_completion is not installed (checked without it only)"
fi
if command -v zsh >/dev/null; then
  if zsh_run "${C_LINE[@]}"; then
    run_cases zsh
  else
    fail "zsh: the zpty driver failed (is the zsh/zpty module there?)"
  fi
fi

# Mount points whose names /proc/self/mountinfo escapes, in a mount namespace
# of their own: as root, or as a user namespace's root.
mkdir -p "$work/ns/mnt point" "$work/ns/back\\slash"
unshare_how=(-m)
[[ $(id -u) -eq 0 ]] || unshare_how=(-r -m)
if ! command -v unshare >/dev/null; then
  fail "escaped mount points: unshare (util-linux) is missing, cannot make a mount namespace"
elif ! unshare "${unshare_how[@]}" true 2>"$work/err"; then
  fail "escaped mount points: cannot make a mount namespace (unshare ${unshare_how[*]}: $(cat "$work/err")); run as root"
else
  nsout=$(FC_SELF=$(realpath -- "$0") FC_WORK="$work/ns" FC_BASH_FILE="$bash_file" FC_ZSH_FILE="$zsh_file" \
    unshare "${unshare_how[@]}" bash "$(realpath -- "$0")" --in-mount-namespace "$work/ns" 2>&1)
  counts=$(sed -n 's/^@@COUNTS //p' <<<"$nsout")
  sed '/^@@COUNTS /d' <<<"$nsout"
  if [[ -z $counts ]]; then
    fail "escaped mount points: the run in the mount namespace did not finish"
  else
    checks=$((checks + ${counts% *})) failures=$((failures + ${counts#* }))
  fi
fi

if ((failures)); then
  echo "$me: $failures of $checks checks FAILED" >&2
  exit 1
fi
echo "$me: all $checks checks passed"

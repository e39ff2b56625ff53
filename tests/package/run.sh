#!/usr/bin/env bash
# The Debian package, as a user meets it: builds the .deb from a build tree
# with CPack, installs it with dpkg -i, checks what was installed, and removes
# (purges) it again, also when a check fails.
# Then runs the installed binary as fputrace.service would (its capabilities,
# read from the installed unit) and checks an EBUSY from the reproducer is
# explained in a journal entry, through systemd-journal-remote and journalctl.
#   tests/package/run.sh SOURCE_DIR BUILD_DIR FPUTRACE-REPRO
# Needs root (dpkg); fails, never skips, without it or a tool it needs.
set -euo pipefail
src=$1 build=$2 repro=$3
journal_remote=/lib/systemd/systemd-journal-remote
fail() { echo "FAIL package: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || fail "needs root (dpkg -i)"
for tool in cpack dpkg-deb dpkg-shlibdeps man systemd-analyze bash zsh setpriv prlimit journalctl jq "$journal_remote"; do
  command -v "$tool" >/dev/null || fail "missing $tool: run scripts/install-deps.sh"
done
if dpkg-query -W -f='${Status}' fputrace 2>/dev/null | grep -q installed; then
  fail "a fputrace package is installed already; this test installs and purges its own, so remove it first"
fi

work=$(mktemp -d /tmp/fputrace-package.XXXXXX)
installed=0
cleanup() {
  ((installed)) && dpkg -P fputrace >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# The package, from this build tree (its fputrace and man pages are built).
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; fail "cpack failed"; }
debs=("$work"/fputrace_*.deb)
deb=${debs[0]}
[[ -f $deb ]] || fail "cpack made no fputrace_*.deb"
echo "package: built $(basename "$deb") ($(($(stat -c %s "$deb") / 1024)) KiB)"

# Runtime libraries only, found by dpkg-shlibdeps from the binary.
depends=$(dpkg-deb -f "$deb" Depends)
echo "package: Depends: $depends"
# libelf and zlib come with libbpf1: the binary links only libbpf directly.
for lib in libbpf libc6 libfmt; do
  [[ $depends == *"$lib"* ]] || fail "Depends lacks $lib (dpkg-shlibdeps): $depends"
done
[[ $depends != *-dev* ]] || fail "Depends names a -dev package: $depends"

dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i failed"; }
installed=1
dpkg -L fputrace >"$work/files"
expect=(/usr/sbin/fputrace /etc/default/fputrace /usr/share/bash-completion/completions/fputrace
        /usr/share/zsh/vendor-completions/_fputrace /usr/share/doc/fputrace/README.md)
for f in "${expect[@]}"; do
  grep -qx "$f" "$work/files" || fail "the package does not install $f"
done
unit=$(grep -E '/systemd/system/fputrace\.service$' "$work/files") || fail "the package has no fputrace.service"
dpkg-query -W -f='${Conffiles}' fputrace | grep -q '/etc/default/fputrace' ||
  fail "/etc/default/fputrace is not a conffile (an upgrade would overwrite the admin's settings)"

# The installed binary works: doctor tries each kind of probe on this kernel.
/usr/sbin/fputrace doctor >"$work/doctor" 2>&1 || { cat "$work/doctor"; fail "installed fputrace doctor failed"; }
grep -q "^selected " "$work/doctor" || { cat "$work/doctor"; fail "fputrace doctor selected no backend"; }
echo "package: /usr/sbin/fputrace doctor: $(grep -m1 "^selected " "$work/doctor")"

# Every man page renders without a warning; fputrace(8) and one per subcommand.
mapfile -t pages < <(grep -E '^/usr/share/man/man8/fputrace.*\.8\.gz$' "$work/files")
subcommands=(watch record report doctor busy umount)
((${#pages[@]} == 1 + ${#subcommands[@]})) || fail "expected $((1 + ${#subcommands[@]})) man pages, found ${#pages[@]}"
for page in "${pages[@]}"; do
  LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" >"$work/page" 2>"$work/warnings" ||
    fail "man -l $page failed: $(cat "$work/warnings")"
  [[ ! -s $work/warnings ]] || fail "man -l $page warns: $(head -n 5 "$work/warnings")"
  grep -q '^NAME' "$work/page" || fail "man -l $page has no NAME section"
done
for cmd in "${subcommands[@]}"; do
  grep -qx "/usr/share/man/man8/fputrace-$cmd.8.gz" "$work/files" || fail "no man page fputrace-$cmd(8)"
done
LC_ALL=C.UTF-8 man -l /usr/share/man/man8/fputrace.8.gz | grep -q '^OVERHEAD' || fail "fputrace(8) has no OVERHEAD section"
echo "package: ${#pages[@]} man pages render without warnings"

# The unit, as systemd reads it (offline: no running systemd needed).
systemd-analyze verify "$unit" >"$work/verify" 2>&1 || { cat "$work/verify"; fail "systemd-analyze verify $unit failed"; }
[[ ! -s $work/verify ]] || fail "systemd-analyze verify $unit: $(cat "$work/verify")"
echo "package: systemd-analyze verify $unit: clean"

# The completions, through bash and zsh, from where the package put them.
bash "$src/tests/package/completion-check.sh" /usr/share/bash-completion/completions/fputrace \
  /usr/share/zsh/vendor-completions/_fputrace || fail "shell completion (above)"

# As the unit runs it: only its capabilities, no new privileges, no memlock
# limit. An EBUSY from the reproducer, in the journal's export format, read
# back by the journal's own tools.
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit")
[[ -n $caps ]] || fail "$unit sets no CapabilityBoundingSet"
setcaps=-all
for cap in $caps; do
  cap=${cap,,}
  setcaps+=",+${cap#cap_}"
done
grep -q '^ExecStart=/usr/sbin/fputrace watch --journal ' "$unit" || fail "$unit does not run watch --journal"
# LimitMEMLOCK=infinity, where this machine lets it be lifted (a container
# without CAP_SYS_RESOURCE does not; kernels from 5.11 do not need it).
memlock=()
if prlimit --memlock=unlimited:unlimited true 2>/dev/null; then
  memlock=(prlimit --memlock=unlimited:unlimited)
else
  echo "package: note: the memlock limit cannot be lifted here; running with $(ulimit -l) KiB"
fi
echo "package: running /usr/sbin/fputrace with $setcaps"
# fputrace traces with the unit's capabilities; the reproducer (it mounts and
# unmounts) runs beside it as root, as the workload would.
(cd "$work" && exec "${memlock[@]}" setpriv --bounding-set="$setcaps" --inh-caps="$setcaps" \
  --ambient-caps="$setcaps" --no-new-privs /usr/sbin/fputrace watch --journal-export -o "$work/export") \
  2>"$work/watch.err" &
watcher=$!
for _ in $(seq 300); do
  grep -q 'tracing with' "$work/watch.err" && break
  kill -0 "$watcher" 2>/dev/null || break
  sleep 0.1
done
grep -q 'tracing with' "$work/watch.err" ||
  { kill -INT "$watcher" 2>/dev/null; fail "the installed fputrace with the unit's capabilities did not start: $(tail -n 3 "$work/watch.err")"; }
"$repro" uring-registered --attempts 3 --until-busy >"$work/repro.jsonl" 2>"$work/repro.err" ||
  { kill -INT "$watcher"; fail "the reproducer failed: $(tail -n 3 "$work/repro.err")"; }
sleep 1  # the release after the last EBUSY
kill -INT "$watcher"
wait "$watcher" || fail "fputrace (the unit's capabilities) exited with $?: $(tail -n 3 "$work/watch.err")"
grep -q '"umount":"EBUSY"' "$work/repro.jsonl" || fail "the reproducer met no EBUSY: nothing to explain ($(tail -n 2 "$work/repro.jsonl"))"
"$journal_remote" -o "$work/fputrace.journal" "$work/export" 2>"$work/remote.err" ||
  fail "systemd-journal-remote refused the export: $(tail -n 3 "$work/remote.err")"
journalctl --file "$work/fputrace.journal" -o json FPUTRACE_EVENT=umount_busy >"$work/busy.json" ||
  fail "journalctl --file failed"
[[ -s $work/busy.json ]] || fail "no journal entry with FPUTRACE_EVENT=umount_busy (the reproducer's EBUSY)"
entry=$(head -n 1 "$work/busy.json")
for field in SYSLOG_IDENTIFIER=fputrace FPUTRACE_VERDICT=deferred_release PRIORITY=4; do
  [[ $(jq -r ".${field%%=*}" <<<"$entry") == "${field#*=}" ]] || fail "the EBUSY entry lacks $field: $entry"
done
origin=$(jq -r '.MESSAGE | fromjson | .pins[0].origin.comm' <<<"$entry")
[[ $origin == fputrace-repro ]] || fail "the EBUSY entry's MESSAGE names no pin from the reproducer: $entry"
[[ $(jq -r .FPUTRACE_MOUNT <<<"$entry") == "$(jq -r '.MESSAGE | fromjson | .mount.path' <<<"$entry")" ]] ||
  fail "FPUTRACE_MOUNT is not the MESSAGE's mount: $entry"
echo "package: as the unit: EBUSY on $(jq -r .FPUTRACE_MOUNT <<<"$entry") explained in the journal" \
  "(verdict deferred_release, pin from $origin, pid $(jq -r .FPUTRACE_ORIGIN_PID <<<"$entry"))"

# Removed, the binary goes and the admin's settings stay; purged, they go too.
dpkg -r fputrace >/dev/null 2>&1 || fail "dpkg -r failed"
[[ ! -e /usr/sbin/fputrace ]] || fail "dpkg -r left /usr/sbin/fputrace"
[[ -e /etc/default/fputrace ]] || fail "dpkg -r removed the conffile /etc/default/fputrace"
dpkg -P fputrace >/dev/null 2>&1 || fail "dpkg -P failed"
installed=0
[[ ! -e /etc/default/fputrace ]] || fail "dpkg -P left /etc/default/fputrace"
echo "PASS package: built, installed, checked, removed"

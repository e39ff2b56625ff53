#!/usr/bin/env bash
# Renders a recorded capture as the HTML report, loads it in Debian's chromium
# (headless) and checks the DOM the browser built: the timeline must be real
# SVG that a browser parses, not just text that looks right to grep.
#   check-html.sh FPUTRACE_HTML_TOOL
# Fails (never skips) when chromium is missing: install it with scripts/install-deps.sh.
# Leaves a screenshot in /tmp/fputrace-report.png for a human to look at.
set -euo pipefail

tool=${1:?usage: check-html.sh FPUTRACE_HTML_TOOL}
here=$(cd "$(dirname "$0")" && pwd)
log=$here/../data/tracepoint-uring-registered.events.jsonl
screenshot=/tmp/fputrace-report.png

fail() { echo "browser.html: FAIL: $*" >&2; exit 1; }

chromium=$(command -v chromium || true)
[[ -n $chromium ]] || fail "chromium is not installed (apt-get install -y chromium, or scripts/install-deps.sh)"

work=$(mktemp -d /tmp/fputrace-html.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$tool" "$log" "$work/report.html" || fail "$tool could not render $log"

# Everything that keeps a headless browser off the network and out of the way;
# --no-sandbox because the tests run as root.
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --disable-dev-shm-usage --hide-scrollbars)

run_chromium() {
  local profile
  profile=$(mktemp -d "$work/profile.XXXXXX")
  timeout 120 "$chromium" "${flags[@]}" --user-data-dir="$profile" "$@" "file://$work/report.html"
}

run_chromium --dump-dom >"$work/dom.html" 2>"$work/chromium.log" ||
  fail "chromium --dump-dom failed: $(tail -n 5 "$work/chromium.log")"
[[ -s $work/dom.html ]] || fail "chromium dumped an empty DOM: $(tail -n 5 "$work/chromium.log")"

# The child: the process that registered the file with its ring.
child=$(grep '"type":"ring_file"' "$log" | head -n 1 | grep -o '"tgid":[0-9]*' | cut -d: -f2)
[[ -n $child ]] || fail "no ring_file record in $log"

expect() {  # expect MIN REGEX WHAT
  local n
  n=$(grep -oE "$2" "$work/dom.html" | wc -l)
  ((n >= $1)) || fail "expected at least $1 $3 in the browser's DOM, found $n"
  echo "browser.html: $n $3"
}
expect 1 '<svg[^>]*class="timeline"' "timeline svg"
expect 1 "<g class=\"task-row\" id=\"row-$child-$child\" data-tgid=\"$child\"" "task row(s) for the child $child"
expect 1 'class="task-row kernel"' "kworker row(s)"
expect 6 '<g class="umount umount-busy"' "umount-busy markers"
expect 1 '<g class="umount umount-ok"' "umount-ok markers"
expect 1 "<g class=\"pin-window\" id=\"pin-0\"[^>]*data-origin-tgid=\"$child\"" "pin window(s) from the child"
expect 2 '<rect class="pin-stage holder-' "pin stages (io_uring, then delayed_fput)"
expect 1 '<path class="release-arrow"' "origin-to-release arrow(s)"
expect 1 '<g class="task-exit"' "exit marker(s)"
expect 6 '<pre class="explanation"' "EBUSY explanations"

run_chromium --screenshot="$screenshot" --window-size=1400,1100 >/dev/null 2>"$work/chromium-shot.log" ||
  fail "chromium --screenshot failed: $(tail -n 5 "$work/chromium-shot.log")"
[[ $(head -c 8 "$screenshot" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] ||
  fail "$screenshot is not a PNG"
echo "browser.html: ok (screenshot: $screenshot)"

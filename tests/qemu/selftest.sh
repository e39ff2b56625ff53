#!/usr/bin/env bash
# Smoke test of the QEMU harness: for each suite, boot with a dynamically linked
# hello-world and a 64 MiB ext4 image made on the host, and run selftest-guest.sh.
# Usage: tests/qemu/selftest.sh [SUITE...]   (default: bullseye bookworm trixie sid)
# Logs go to ${FPUTRACE_SELFTEST_LOGS:-/tmp/fputrace-qemu-selftest}/SUITE.log.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
(($#)) || set -- bullseye bookworm trixie sid
logs=${FPUTRACE_SELFTEST_LOGS:-/tmp/fputrace-qemu-selftest}
mkdir -p "$logs"
"$here/fetch-kernels.sh" "$@"

payload=$(mktemp -d)
trap 'rm -rf "$payload"' EXIT
printf '#include <stdio.h>\nint main(void) { puts("hello from a dynamically linked program"); return 0; }\n' |
    gcc -O2 -x c -o "$payload/hello" -
truncate -s 64M "$payload/ext4.img"
mkfs.ext4 -q "$payload/ext4.img"

failed=0
for suite in "$@"; do
    rc=0
    "$here/boot.sh" --suite "$suite" --payload "$payload" --script "$here/selftest-guest.sh" \
        --out "$logs/$suite.log" --timeout 300 || rc=$?
    if ((rc != 0)) || ! grep -q '^selftest: ok$' "$logs/$suite.log"; then
        echo "selftest: $suite FAILED (rc $rc), see $logs/$suite.log" >&2
        failed=1
    fi
done
exit "$failed"

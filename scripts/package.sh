#!/usr/bin/env bash
# Builds the Debian package of fputrace with CPack and prints the .deb's path
# (on stdout; everything else goes to stderr). A Release build of its own in
# build-pkg/. Install it with `sudo apt install ./fputrace_*.deb` (or dpkg -i).
# Runtime dependencies are found by dpkg-shlibdeps from the binary.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${FPUTRACE_PKG_BUILD:-$root/build-pkg}
die() { echo "package.sh: $*" >&2; exit 1; }
for tool in cmake cpack dpkg-deb dpkg-shlibdeps gzip; do
  command -v "$tool" >/dev/null || die "missing $tool: run scripts/install-deps.sh (as root) first"
done
cmake -S "$root" -B "$out" -DCMAKE_BUILD_TYPE=Release >&2 || die "cmake configure failed"
cmake --build "$out" -j "$(nproc)" --target fputrace man_pages >&2 || die "build failed"
rm -f "$out"/fputrace_*.deb
(cd "$out" && cpack -G DEB >&2) || die "cpack failed (see above)"
debs=("$out"/fputrace_*.deb)
[[ -f ${debs[0]} ]] || die "cpack made no .deb in $out"
echo "${debs[0]}"

#!/usr/bin/env bash
# An arm64 sysroot for the cross build (cmake/aarch64-linux-gnu.cmake), made of
# Debian bookworm's arm64 -dev packages unpacked with dpkg-deb -x: nothing is
# installed, the host's dpkg architectures and apt configuration are neither read
# nor changed (a private apt configuration, as in tests/qemu/fetch-kernels.sh).
#
# Usage: scripts/arm64-sysroot.sh   -> the sysroot in ${FPUTRACE_SYSROOT_CACHE:-/var/cache/fputrace/arm64-sysroot}/root
# then:  FPUTRACE_SYSROOT=THAT/root cmake -S . -B build-arm64 \
#          -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DFPUTRACE_STATIC=ON
# Needs on the host: clang, lld (ld.lld), llvm (llvm-ar), dpkg-deb, apt-get.
#
# Why not multiarch (dpkg --add-architecture arm64 + libbpf-dev:arm64 ...): the
# :arm64 libraries are Multi-Arch: same, so they must have the installed amd64
# packages' exact versions; when the archive has moved on (a machine installed
# from a snapshot) apt upgrades amd64 packages (libzstd1, krb5, openssl, e2fsprogs)
# to install them. The sysroot leaves the host alone.
set -euo pipefail

die() { echo "arm64-sysroot.sh: $*" >&2; exit 1; }

OUT=${FPUTRACE_SYSROOT_CACHE:-/var/cache/fputrace/arm64-sysroot}
SUITE=bookworm
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
PACKAGES=(
  libc6 libc6-dev linux-libc-dev libgcc-s1 libgcc-12-dev libstdc++6 libstdc++-12-dev
  libbpf-dev libelf-dev zlib1g-dev libzstd-dev libfmt9 libfmt-dev liburing-dev libaio-dev
  nlohmann-json3-dev libcli11-dev
)
# A complete sysroot of the same suite and package list is left alone (the stamp
# is written last): scripts/test.sh runs this every time. rm -r OUT/root to
# refetch (e.g. for the archive's newer versions).
stamp=$OUT/root/.fputrace-sysroot
want="$SUITE ${PACKAGES[*]}"
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  echo "arm64-sysroot.sh: sysroot in $OUT/root is complete (use FPUTRACE_SYSROOT=$OUT/root)"
  exit 0
fi
for tool in apt-get dpkg-deb; do command -v "$tool" >/dev/null || die "missing tool: $tool"; done
[[ -r $KEYRING ]] || die "missing $KEYRING (install debian-archive-keyring)"

URI=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | grep -v '^[[:space:]]*#' |
      grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n1 | tr -d ' ' || true)
URI=${URI:-http://deb.debian.org/debian}

apt=$OUT/.apt
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/empty" "$apt/debs"
echo "deb [signed-by=$KEYRING] $URI $SUITE main" >"$apt/sources.list"
cat >"$apt/apt.conf" <<EOF
Dir::Etc::main "/dev/null";
Dir::Etc::parts "$apt/empty";
Dir::Etc::sourcelist "$apt/sources.list";
Dir::Etc::sourceparts "$apt/empty";
Dir::Etc::preferences "/dev/null";
Dir::Etc::preferencesparts "$apt/empty";
Dir::State::Lists "$apt/lists";
Dir::Cache "$apt/cache";
Acquire::GzipIndexes "true";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT::Get::List-Cleanup "false";
Acquire::Languages "none";
Acquire::Check-Valid-Until "false";
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
EOF
export APT_CONFIG=$apt/apt.conf
apt-get -qq update >"$apt/update.log" 2>&1 || { cat "$apt/update.log" >&2; die "apt-get update failed"; }
(cd "$apt/debs" && apt-get -qq download "${PACKAGES[@]}" 2>&1 | grep -v "couldn't be accessed by user '_apt'" || true)
rm -rf "$OUT/root.new"
mkdir -p "$OUT/root.new"
for pkg in "${PACKAGES[@]}"; do
  deb=$(ls -t "$apt/debs/${pkg}"_*.deb 2>/dev/null | head -n1)
  [[ -n $deb ]] || die "$pkg: not downloaded"
  dpkg-deb -x "$deb" "$OUT/root.new"
done
echo "$want" >"$OUT/root.new/.fputrace-sysroot"
rm -rf "$OUT/root"
mv "$OUT/root.new" "$OUT/root"
echo "arm64-sysroot.sh: sysroot in $OUT/root (use FPUTRACE_SYSROOT=$OUT/root)"

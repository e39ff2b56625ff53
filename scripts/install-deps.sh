#!/usr/bin/env bash
# Installs everything fputrace needs to build and test, from Debian packages.
# Idempotent: packages already present are left alone, and apt is only asked
# to update its lists when something is actually missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
  clang-14 libclang-rt-14-dev  # the sanitizer and fuzz builds: ASan, UBSan and libFuzzer for clang 14
  nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libfmt-dev
  liburing-dev libaio-dev
  qemu-system-x86 busybox-static cpio e2fsprogs xz-utils zstd
  # The arm64 cross build (its libraries: scripts/arm64-sysroot.sh, unpacked, not
  # installed; multiarch :arm64 packages would upgrade amd64 ones here) and its guests.
  lld qemu-system-arm
  chromium
  jq
  zsh bash-completion man-db systemd  # the package test: completions through zsh and bash, man -l, systemd-analyze verify
  systemd-journal-remote  # the package test: journal export entries imported into a journal file
  prometheus  # promtool: the metrics file's format (tests/host/metrics.sh)
)

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: must run as root (apt-get install)" >&2
  exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "install-deps: all packages present"
fi

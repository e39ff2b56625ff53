#!/usr/bin/env bash
# The test command (README, .ci/run): sets up and runs every test.
#  - unit tests of the model, from recorded event sequences
#  - kernel tests on this machine's own kernel (root; tracepoint backend)
#  - kernel tests on Debian's 5.10, 6.1, 6.12 and sid kernels under QEMU
#    (fentry, kprobe and tracepoint backends)
#  - the arm64 cross build (build-arm64/, static aarch64 binaries) and the same
#    QEMU tests on Debian's arm64 6.1, 6.12 and sid kernels
#  - the sanitizer build (ASan+UBSan, build-san/): unit tests and this
#    machine's kernel tests again, any sanitizer report fails them
#  - the fuzz build (clang libFuzzer, build-fuzz/): each target replays its
#    regressions and fuzzes for a short while (tests/fuzz/README.md)
# Arguments go to the first ctest (the normal build) only. Every part runs even
# when an earlier one failed; the exit status is 1 if any failed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ $(id -u) -ne 0 ]]; then
  echo "scripts/test.sh: run as root: the kernel tests load BPF programs and mount filesystems" >&2
  exit 1
fi
"$root/scripts/build.sh"

failed=() summary=()
part() {  # part NAME COMMAND...: runs it, times it, remembers a failure
  local name=$1 start=$SECONDS st=0
  shift
  echo "=== test.sh: $name"
  "$@" || st=$?
  summary+=("$(printf '%-32s %s, %d s' "$name" "$([[ $st -eq 0 ]] && echo passed || echo FAILED)" $((SECONDS - start)))")
  [[ $st -eq 0 ]] || failed+=("$name")
  return $st
}
not_run() {  # not_run NAME: its build failed
  summary+=("$(printf '%-32s %s' "$1" "FAILED (not run: the build failed)")")
  failed+=("$1")
}
nproc=$(nproc)

# QEMU kernels run two at a time; each test boots its own guest.
part "tests (build/)" ctest --test-dir "$root/build" --output-on-failure -j 2 "$@" || true

# ASan+UBSan: the collector, its unit tests and what the host tests run. clang,
# because g++ 12's UBSan ignores log_path next to ASan with -fno-sanitize-recover
# (tests/sanitize/reports.sh finds reports by their files); -O0, because it
# builds three times faster and the tests wait on the kernel, not on the CPU.
san=$root/build-san
if part "sanitizer build (build-san/)" bash -c "
    cmake -S '$root' -B '$san' -DCMAKE_BUILD_TYPE=Debug -DFPUTRACE_SANITIZE=ON \
      -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 >/dev/null &&
    cmake --build '$san' -j $nproc --target fputrace unit_tests fputrace-repro fputrace-check uring-storm uring-reopen umount-race ring-holder"; then
  part "sanitizer: unit + host tests" \
    ctest --test-dir "$san" --output-on-failure -j 2 -L '^(unit|root)$' --no-tests=error || true
else
  not_run "sanitizer: unit + host tests"
fi

# clang libFuzzer: only the model library and the fuzz targets.
fuzz=$root/build-fuzz
if part "fuzz build (build-fuzz/)" bash -c "
    cmake -S '$root' -B '$fuzz' -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFPUTRACE_FUZZ=ON \
      -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 >/dev/null &&
    cmake --build '$fuzz' -j $nproc"; then
  part "fuzz: short runs" ctest --test-dir "$fuzz" --output-on-failure -j 2 -L fuzz --no-tests=error || true
else
  not_run "fuzz: short runs"
fi

# arm64: the sysroot (kept once made), the cross build of what the guests run,
# then the QEMU suites on arm64 kernels (qemu-system-aarch64, TCG), two at a time.
arm64=$root/build-arm64
sysroot=${FPUTRACE_SYSROOT_CACHE:-/var/cache/fputrace/arm64-sysroot}/root
if part "arm64 cross build (build-arm64/)" bash -c "
    '$root/scripts/arm64-sysroot.sh' &&
    FPUTRACE_SYSROOT='$sysroot' \
      cmake -S '$root' -B '$arm64' -DCMAKE_TOOLCHAIN_FILE='$root/cmake/aarch64-linux-gnu.cmake' \
      -DFPUTRACE_STATIC=ON >/dev/null &&
    cmake --build '$arm64' -j $nproc --target fputrace fputrace-repro umount-race ring-holder fputrace-check"; then
  part "arm64 QEMU suites" \
    ctest --test-dir "$arm64" --output-on-failure -j 2 -L arm64 --no-tests=error || true
else
  not_run "arm64 QEMU suites"
fi

echo "=== test.sh: summary"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "test.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi

# Cross build for arm64 (aarch64) Linux, from an amd64 Debian host:
#
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DFPUTRACE_STATIC=ON
#
# Two ways to get the arm64 libraries and compiler (tests/qemu/README.md, "arm64 cross build"):
#  - Debian multiarch (default): g++-aarch64-linux-gnu and the :arm64 -dev packages
#    installed on the host (dpkg --add-architecture arm64); libraries in
#    /usr/lib/aarch64-linux-gnu.
#  - a sysroot of unpacked arm64 .debs, nothing installed (scripts/arm64-sysroot.sh):
#    -DFPUTRACE_SYSROOT=DIR (or FPUTRACE_SYSROOT in the environment). Compiles with
#    the host's clang (--target=aarch64-linux-gnu) and links with ld.lld.
# The BPF objects are built by the host's clang (-target bpf) either way, and the
# skeletons by the host's bpftool; FPUTRACE_ARCH (arm64) follows from
# CMAKE_SYSTEM_PROCESSOR.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(FPUTRACE_TRIPLE aarch64-linux-gnu)

if(NOT FPUTRACE_SYSROOT AND DEFINED ENV{FPUTRACE_SYSROOT})
  set(FPUTRACE_SYSROOT "$ENV{FPUTRACE_SYSROOT}")
endif()
# try_compile projects see the toolchain file again, without the cache.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES FPUTRACE_SYSROOT)

if(FPUTRACE_SYSROOT)
  set(FPUTRACE_SYSROOT "${FPUTRACE_SYSROOT}" CACHE PATH "arm64 sysroot (unpacked .debs)")
  set(CMAKE_SYSROOT "${FPUTRACE_SYSROOT}")
  set(CMAKE_C_COMPILER clang)
  set(CMAKE_CXX_COMPILER clang++)
  set(CMAKE_C_COMPILER_TARGET ${FPUTRACE_TRIPLE})
  set(CMAKE_CXX_COMPILER_TARGET ${FPUTRACE_TRIPLE})
  set(CMAKE_EXE_LINKER_FLAGS_INIT "-fuse-ld=lld")
  set(CMAKE_SHARED_LINKER_FLAGS_INIT "-fuse-ld=lld")
  set(CMAKE_AR llvm-ar CACHE FILEPATH "")
  set(CMAKE_RANLIB llvm-ranlib CACHE FILEPATH "")
  set(CMAKE_FIND_ROOT_PATH "${FPUTRACE_SYSROOT}")
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "${FPUTRACE_SYSROOT}")
  set(ENV{PKG_CONFIG_LIBDIR}
      "${FPUTRACE_SYSROOT}/usr/lib/${FPUTRACE_TRIPLE}/pkgconfig:${FPUTRACE_SYSROOT}/usr/share/pkgconfig")
  # Libraries, headers and CMake packages only from the sysroot; programs from the host.
  set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
  set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
else()
  set(CMAKE_C_COMPILER ${FPUTRACE_TRIPLE}-gcc)
  set(CMAKE_CXX_COMPILER ${FPUTRACE_TRIPLE}-g++)
  # Multiarch: the arm64 .pc files, not the host's. Arch-independent CMake
  # packages (nlohmann_json, CLI11) are found in /usr/share/cmake as natively.
  set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${FPUTRACE_TRIPLE}/pkgconfig:/usr/share/pkgconfig")
  set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
endif()

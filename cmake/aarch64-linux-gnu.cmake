# Cross-compiling for 64-bit ARM Linux with Debian's cross compiler
# (gcc-aarch64-linux-gnu) and the arm64 libraries of the same machine
# through multiarch (dpkg --add-architecture arm64; libcjson-dev:arm64 ...):
#
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
#
# The programs run under qemu-user (scripts/test-arm.sh). The arm64
# libraries live in /usr/lib/aarch64-linux-gnu, beside the host's, so the
# sysroot is / and pkg-config reads only the arm64 .pc files.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)

set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Libraries and headers from the target's directories only; programs (the
# build tools) from the host.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)

# Tests that CTest would run on the host need the emulator.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)

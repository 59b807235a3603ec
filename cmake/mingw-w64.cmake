# Cross-compiling for 64-bit Windows with Debian's mingw-w64 (the "posix"
# flavour of gcc-mingw-w64-x86-64, whose threads are winpthreads):
#
#   cmake -S . -B build-win64 -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64.cmake \
#         -DCMAKE_PREFIX_PATH=$(scripts/windows-deps.sh)
#
# scripts/windows-deps.sh builds PCRE2 and cJSON for mingw from Debian's
# source packages into a cache outside the repository and prints its prefix;
# scripts/windows-test.sh builds and runs the tests under wine.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(TK_MINGW_TRIPLE x86_64-w64-mingw32)
find_program(TK_MINGW_CC NAMES ${TK_MINGW_TRIPLE}-gcc-posix ${TK_MINGW_TRIPLE}-gcc REQUIRED)
set(CMAKE_C_COMPILER ${TK_MINGW_CC})
set(CMAKE_RC_COMPILER ${TK_MINGW_TRIPLE}-windres)

# Libraries and headers from the target's directories and the prefixes given
# in CMAKE_PREFIX_PATH only; programs (the build tools) from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${TK_MINGW_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# Programs that stand alone: the C runtime, libgcc and winpthreads linked in,
# so tektra.exe needs no DLL beside it.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

# Tests that CTest would run on the host need wine.
find_program(TK_WINE NAMES wine wine64 PATHS /usr/lib/wine)
if(TK_WINE)
    set(CMAKE_CROSSCOMPILING_EMULATOR ${TK_WINE})
endif()

#!/usr/bin/env bash
# Compiles every C file of the project for macOS on Linux, with clang, once
# for arm64-apple-macos13 and once for x86_64-apple-macos13: the files of
# src/, app/, tests/ and tools/ (and the generated ones) that the CMake
# build BUILD_DIR compiles, each with its own include directories and
# definitions from BUILD_DIR/compile_commands.json (so -DTEKTRA_HAVE_MLX=1
# and mlx-c's headers when BUILD_DIR has the MLX backend), warnings as
# errors. There is no macOS SDK here, so this is a check of the code's
# platform and architecture choices, not a macOS build:
#
#   what it proves, for both slices of a universal build:
#   - the code the compiler's Apple predefines select (__APPLE__, __MACH__,
#     __aarch64__ or __x86_64__, no __linux__) parses and type-checks;
#     no `#error` path is reached;
#   - the kernel files (src/kernels/) compile to assembly with exactly the
#     options cmake/isa.cmake gives them in a universal build
#     (CMAKE_OSX_ARCHITECTURES="arm64;x86_64": -Xarch_arm64 flags, nothing
#     for x86): no x86 intrinsic or flag reaches arm64, the x86 target
#     regions (src/kernels/target.h) are accepted by clang, and an
#     intrinsic outside its region or without its flags fails (that check
#     needs code generation, which -fsyntax-only skips);
#   - no Linux-only header is included (the list in linux_only below: each
#     is an #error here) and none of the Linux-only functions and constants
#     in `poison` and `undefine` below is used;
#   - the macOS-only interfaces the code uses (<util.h>, <sys/sysctl.h>,
#     SO_NOSIGPIPE) are used as the macOS manual pages declare them.
#
#   what it does not prove: the other C library declarations come from
#   Debian's glibc headers (aarch64's for arm64, x86_64's for x86_64), so a
#   POSIX or GNU function or constant outside those lists that macOS lacks
#   or declares differently is not noticed; every file sees all the C
#   library headers of the prelude, so a missing #include is not noticed
#   (the native build notices it); the compiler is Debian's clang, not
#   Apple's; and nothing is linked or run. The third-party headers (cJSON,
#   libmicrohttpd, libcurl, libedit, PCRE2, mlx-c) are Debian's (or
#   scripts/mlx.sh's), standing in for Homebrew's.
#
#   scripts/macos-check.sh [BUILD_DIR]   (default: build; configured by CMake)
#   MACOS_CHECK_FILES=REGEX scripts/macos-check.sh ...   only the matching files
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${1:-build}
[ -f "$build/compile_commands.json" ] || {
    echo "macos-check: $build/compile_commands.json missing: configure $build with CMake first" >&2
    exit 1
}
missing=""
command -v clang >/dev/null || missing+=" clang"
[ -f /usr/aarch64-linux-gnu/include/stdio.h ] || missing+=" libc6-dev-arm64-cross"
if [ -n "$missing" ]; then
    echo "== installing:$missing"
    sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { echo "macos-check: need root or sudo to install:$missing" >&2; exit 1; }
        sudo=sudo
    fi
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sdk=$tmp/sdk
mkdir -p "$sdk/sys" "$sdk/deps"

# Headers that exist on Linux only; code for macOS must not include them.
linux_only="pty.h sys/epoll.h sys/auxv.h sys/prctl.h sys/sysinfo.h sys/inotify.h sys/eventfd.h
    sys/signalfd.h sys/timerfd.h sys/sendfile.h sys/vfs.h sys/personality.h sys/fsuid.h
    sys/klog.h malloc.h mntent.h error.h argp.h byteswap.h shadow.h crypt.h
    values.h gnu/libc-version.h"
for h in $linux_only; do
    mkdir -p "$sdk/$(dirname "$h")"
    echo "#error \"<$h> does not exist on macOS (guard it with #if defined(__linux__))\"" >"$sdk/$h"
done

# The macOS-only interfaces the code uses, as the macOS manual pages declare
# them: openpty(3)/forkpty(3) in <util.h>, sysctl(3) in <sys/sysctl.h>, and
# the socket option SO_NOSIGPIPE (its value in the SDK's <sys/socket.h>).
cat >"$sdk/util.h" <<'EOF'
#include <sys/ioctl.h>
#include <termios.h>
int openpty(int *amaster, int *aslave, char *name, struct termios *termp, struct winsize *winp);
int forkpty(int *amaster, char *name, struct termios *termp, struct winsize *winp);
int login_tty(int fd);
EOF
cat >"$sdk/sys/sysctl.h" <<'EOF'
#include <stddef.h>
int sysctl(int *name, unsigned int namelen, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
int sysctlbyname(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
int sysctlnametomib(const char *name, int *mibp, size_t *sizep);
EOF
cat >"$sdk/sys/socket.h" <<'EOF'
#include_next <sys/socket.h>
#define SO_NOSIGPIPE 0x1022
EOF

# Linux-only functions and constants (glibc declares them; macOS lacks them,
# at least in the SDKs of macOS 13, or has them with another meaning, like
# qsort_r and sendfile), removed after every C library header is in, so
# that a use anywhere in the project's code fails: functions are poisoned
# (any later mention is an error), macros that are plain constants are
# undefined (a use is an undeclared identifier; `#if defined(NAME)` is
# false, as on macOS), and the constants that glibc makes enumerators as
# well as macros are poisoned (so even `#ifdef NAME` fails for those: write
# `#if defined(__linux__)`). Names that code may well use for its own
# variables (exp10, sincos, ...) are left out.
poison="MSG_NOSIGNAL MSG_MORE SOCK_CLOEXEC SOCK_NONBLOCK accept4 pipe2 dup3 epoll_create
    epoll_create1 epoll_ctl epoll_wait eventfd signalfd timerfd_create inotify_init prctl
    sysinfo get_nprocs get_nprocs_conf getauxval sched_getcpu sched_setaffinity
    sched_getaffinity pthread_setaffinity_np pthread_getaffinity_np pthread_timedjoin_np
    pthread_tryjoin_np cpu_set_t memrchr mempcpy rawmemchr strchrnul qsort_r secure_getenv
    getrandom reallocarray explicit_bzero memfd_create mremap fallocate posix_fallocate
    posix_fadvise sendfile copy_file_range statx sigtimedwait sigwaitinfo ppoll
    clock_nanosleep program_invocation_name program_invocation_short_name
    canonicalize_file_name get_current_dir_name euidaccess strverscmp versionsort gettid
    tdestroy fcloseall"
undefine="CPU_SET CPU_ZERO CPU_ISSET MAP_POPULATE MAP_HUGETLB MADV_HUGEPAGE MADV_DONTDUMP
    O_DIRECT O_TMPFILE O_PATH O_NOATIME RUSAGE_THREAD CLOCK_BOOTTIME TEMP_FAILURE_RETRY"
libc_headers="assert.h ctype.h dirent.h errno.h fcntl.h float.h inttypes.h langinfo.h limits.h
    locale.h math.h netdb.h netinet/in.h arpa/inet.h poll.h pthread.h sched.h setjmp.h
    signal.h spawn.h stdarg.h stdatomic.h stdbool.h stddef.h stdint.h stdio.h stdlib.h
    string.h strings.h termios.h time.h unistd.h sys/file.h sys/ioctl.h sys/mman.h
    sys/resource.h sys/socket.h sys/stat.h sys/statvfs.h sys/time.h sys/types.h sys/wait.h
    util.h sys/sysctl.h"
{
    for h in $libc_headers; do echo "#include <$h>"; done
    for m in $undefine; do echo "#undef $m"; done
    echo "#pragma GCC poison $(echo $poison)"
} >"$sdk/tk-macos-prelude.h"

# Third-party headers, one by one (not all of /usr/include, where the Linux
# headers are).
for h in cjson/cJSON.h microhttpd.h pcre2.h histedit.h editline/readline.h; do
    mkdir -p "$sdk/deps/$(dirname "$h")"
    ln -s "/usr/include/$h" "$sdk/deps/$h"
done
ln -s "/usr/include/$(gcc -print-multiarch)/curl" "$sdk/deps/curl"

# One line per compiled file: the file, then its -I/-D/-U/-std/-isystem
# options (from the compile database), tab-separated.
cat >"$tmp/db.cmake" <<'EOF'
file(READ "${DB}" db)
string(JSON n LENGTH "${db}")
math(EXPR last "${n} - 1")
foreach(i RANGE ${last})
    string(JSON f GET "${db}" ${i} file)
    string(JSON c ERROR_VARIABLE none GET "${db}" ${i} command)
    separate_arguments(args UNIX_COMMAND "${c}")
    set(keep "")
    set(take_next FALSE)
    foreach(a IN LISTS args)
        if(take_next)
            list(APPEND keep "${a}")
            set(take_next FALSE)
        elseif(a MATCHES "^-(isystem|I|include)$")
            list(APPEND keep "${a}")
            set(take_next TRUE)
        elseif(a MATCHES "^-(I|D|U|std=)")
            list(APPEND keep "${a}")
        endif()
    endforeach()
    string(REPLACE ";" "\t" keep "${keep}")
    message("${f}\t${keep}")
endforeach()
EOF
cmake -DDB="$build/compile_commands.json" -P "$tmp/db.cmake" 2>"$tmp/db.all"
# MACOS_CHECK_FILES=REGEX: only the files whose path matches (debugging).
grep -E "^[^$(printf '\t')]*(${MACOS_CHECK_FILES:-.})" "$tmp/db.all" >"$tmp/db.txt" || {
    echo "macos-check: no file matches MACOS_CHECK_FILES=${MACOS_CHECK_FILES:-}" >&2
    exit 1
}

# Compiles one file for one target; prints what clang says and fails on an
# error.
cat >"$tmp/one.sh" <<'EOF'
#!/usr/bin/env bash
set -uo pipefail
target=$1 root=$2 line=$3
IFS=$'\t' read -r -a a <<<"$line"
file=${a[0]}
opts=("${a[@]:1}")
mode=(-fsyntax-only)
prelude=(-include-pch "$TK_PCH_DIR/$target.pch")
case "$file" in
"$root"/src/kernels/*)
    mode=(-S -o /dev/null)
    mapfile -t isa < <(cmake -DTK_ISA_ARCHS="arm64;x86_64" -DTK_ISA_SOURCE="$file" \
        -P "$root/cmake/isa.cmake" 2>&1)
    if [ ${#isa[@]} -gt 0 ] && [ -n "${isa[0]}" ]; then
        opts+=("${isa[@]}")
        # Other target features than the PCH's: the prelude itself.
        prelude=(-include tk-macos-prelude.h)
    fi
    ;;
esac
# mlx-c's half.h declares `typedef __bf16 bfloat16_t` on every arm64, which
# clang 15 and later (Apple's since Xcode 15) accept as a storage type on any
# arm64 but clang 14 only where the target has BF16: for clang 14 the arm64
# MLX files get +bf16 (an M2's feature), which changes only what this check's
# compiler accepts, not the code it checks.
if [[ "$target" == arm64-* && " ${opts[*]} " == *" -DTEKTRA_HAVE_MLX=1 "* ]] &&
    [ "$(clang -dM -E -x c /dev/null | awk '/__clang_major__/ {print $3}')" -lt 15 ]; then
    opts+=(-mcpu=apple-m1+bf16)
    prelude=(-include tk-macos-prelude.h)
fi
# -Wno-string-concatenation: a clang warning (GCC has none) about adjacent
# string literals in an array initializer, which the test tables mean.
# shellcheck disable=SC2086
out=$(clang --target="$target" $TK_SYSTEM_INCLUDES "${prelude[@]}" \
    -Wall -Wextra -Wpedantic -Wshadow -Werror -Wno-unused-command-line-argument \
    -Wno-string-concatenation "${opts[@]}" "${mode[@]}" "$file" 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ -n "$out" ]; then
    echo "== $target: ${file#"$root"/}"
    echo "$out"
fi
exit $rc
EOF
chmod +x "$tmp/one.sh"

# The system headers of a target: the generated layer first, then glibc's
# headers for the same architecture, then the third-party ones.
# -U__nonnull -U__nullable: clang predefines these Apple nullability
# keywords, which glibc's headers use as names of their own.
system_includes() {
    local libc
    case "$1" in
    arm64-*) libc="-isystem /usr/aarch64-linux-gnu/include" ;;
    *) libc="-isystem /usr/include/$(gcc -print-multiarch) -isystem /usr/include" ;;
    esac
    echo "-nostdlibinc -isystem $sdk $libc -isystem $sdk/deps -U__nonnull -U__nullable"
}
export TK_PCH_DIR=$tmp

jobs=$(nproc 2>/dev/null || echo 2)
status=0
for target in arm64-apple-macos13 x86_64-apple-macos13; do
    n=$(grep -c . "$tmp/db.txt")
    echo "== macOS check: $n files for $target"
    TK_SYSTEM_INCLUDES=$(system_includes "$target")
    export TK_SYSTEM_INCLUDES
    # The C library headers and the prelude, parsed once per target (a
    # precompiled header; each file's own -D options come on top: all have
    # -std=c11 -D_GNU_SOURCE, as the PCH, or clang says it does not fit).
    # shellcheck disable=SC2086
    clang --target="$target" $TK_SYSTEM_INCLUDES -std=c11 -D_GNU_SOURCE -w -x c-header \
        "$sdk/tk-macos-prelude.h" -o "$tmp/$target.pch"
    tr '\n' '\0' <"$tmp/db.txt" |
        xargs -0 -P "$jobs" -I{} "$tmp/one.sh" "$target" "$root" {} || status=1
done
if [ $status -ne 0 ]; then
    echo "macos-check: some files do not compile for macOS (above)" >&2
    exit 1
fi
echo "== macOS check: every file compiles for arm64 and x86_64 macOS (see scripts/macos-check.sh for what that proves)"

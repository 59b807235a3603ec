#!/usr/bin/env bash
# Builds the libraries tektra needs on Windows and Debian does not ship for
# mingw-w64 (cJSON, PCRE2 and libmicrohttpd) from Debian's own source packages (apt-get
# source, Debian's patches applied), as static libraries, into a prefix
# cached outside the repository:
#   ${TEKTRA_CACHE:-~/.cache/tektra}/mingw-deps-<key>
# where <key> names the source versions and the compiler, so a new Debian
# version or compiler builds a new prefix and an unchanged machine rebuilds
# nothing. Prints the prefix on stdout (for -DCMAKE_PREFIX_PATH); progress
# goes to stderr.
#   scripts/windows-deps.sh            build when missing, print the prefix
#   scripts/windows-deps.sh --help     this text
# Needs the mingw-w64 compiler, cmake and dpkg-dev (scripts/setup.sh
# --with-mingw installs them) and Debian's archive for the sources.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
case "${1:-}" in
-h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
    exit 0
    ;;
esac
log() { echo "windows-deps: $*" >&2; }
cache=${TEKTRA_CACHE:-$HOME/.cache/tektra}
cc=$(command -v x86_64-w64-mingw32-gcc-posix || command -v x86_64-w64-mingw32-gcc || true)
[ -n "$cc" ] || { log "no mingw-w64 compiler (scripts/setup.sh --with-mingw)"; exit 1; }
command -v dpkg-source >/dev/null || { log "no dpkg-source (scripts/setup.sh --with-mingw)"; exit 1; }

# A private apt configuration that knows Debian's source packages for this
# release (deb-src lines beside the system's deb lines), so nothing in
# /etc/apt changes.
apt_dir=$cache/mingw-deps-apt
mkdir -p "$apt_dir/lists/partial"
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
cat >"$apt_dir/sources.list" <<SRC
deb-src http://deb.debian.org/debian $codename main
deb-src http://deb.debian.org/debian $codename-updates main
deb-src http://deb.debian.org/debian-security $codename-security main
SRC
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
          -o "Debug::NoLocking=1" -o "APT::Sandbox::User=$(id -un)")
# Refresh the source lists at most once a day.
if [ -z "$(find "$apt_dir/lists" -maxdepth 1 -name '*Sources*' -mmin -1440 2>/dev/null)" ]; then
    log "reading Debian's source lists"
    if ! apt-get "${apt_opts[@]}" update -qq >&2; then
        # Offline: the versions chosen before (and their built prefix) do.
        [ -s "$apt_dir/chosen" ] || { log "cannot reach Debian's archive"; exit 1; }
        log "cannot reach Debian's archive: keeping the versions chosen before"
        touch "$apt_dir/chosen"
    fi
fi
# The newest source version of each package that the archive serves (a
# security update's files can be missing from a mirror: then the one
# before), chosen once a day with the lists and kept in $apt_dir/chosen.
versions() {
    apt-cache "${apt_opts[@]}" showsrc "$1" | awk '/^Version:/ {print $2}' | sort -rV | uniq
}
download() { # package version directory
    (cd "$3" && apt-get "${apt_opts[@]}" source --download-only -qq "$1=$2" >/dev/null 2>&1)
}
if [ ! -s "$apt_dir/chosen" ] || [ "$apt_dir/chosen" -ot "$apt_dir/lists" ] ||
    ! grep -q '^libmicrohttpd ' "$apt_dir/chosen"; then
    rm -rf "$apt_dir/dl" && mkdir -p "$apt_dir/dl"
    : >"$apt_dir/chosen.new"
    for pkg in cjson pcre2 libmicrohttpd; do
        chosen=""
        for v in $(versions $pkg); do
            if download $pkg "$v" "$apt_dir/dl"; then chosen=$v; break; fi
            log "$pkg $v: not served by the archive, trying the version before"
        done
        [ -n "$chosen" ] || { log "cannot download the source package $pkg"; exit 1; }
        echo "$pkg $chosen" >>"$apt_dir/chosen.new"
    done
    mv "$apt_dir/chosen.new" "$apt_dir/chosen"
fi
v_cjson=$(awk '$1 == "cjson" {print $2}' "$apt_dir/chosen")
v_pcre2=$(awk '$1 == "pcre2" {print $2}' "$apt_dir/chosen")
v_mhd=$(awk '$1 == "libmicrohttpd" {print $2}' "$apt_dir/chosen")
v_cc=$("$cc" -dumpfullversion)
key="cjson-$v_cjson.pcre2-$v_pcre2.mhd-$v_mhd.gcc-$v_cc"
key=${key//[^A-Za-z0-9.+-]/_}
prefix=$cache/mingw-deps-$key
if [ -f "$prefix/.complete" ]; then
    echo "$prefix"
    exit 0
fi

work=$(mktemp -d "$cache/mingw-deps-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
rm -rf "$prefix"
jobs=$(nproc 2>/dev/null || echo 2)
cmake_cross=(-DCMAKE_TOOLCHAIN_FILE="$root/cmake/mingw-w64.cmake" -DCMAKE_BUILD_TYPE=Release
             -DCMAKE_INSTALL_PREFIX="$prefix" -DBUILD_SHARED_LIBS=OFF)

fetch() { # package version -> unpacked source directory on stdout
    [ -f "$apt_dir/dl/$1_${2#*:}.dsc" ] || download "$1" "$2" "$apt_dir/dl" ||
        { log "cannot download $1 $2"; exit 1; }
    dpkg-source -x --no-check "$apt_dir/dl/$1_${2#*:}.dsc" "$work/src-$1" >&2
    echo "$work/src-$1"
}

log "cJSON $v_cjson"
s=$(fetch cjson "$v_cjson")
cmake -S "$s" -B "$work/b-cjson" "${cmake_cross[@]}" -DENABLE_CJSON_TEST=OFF \
    -DENABLE_CJSON_UTILS=OFF -DENABLE_CUSTOM_COMPILER_FLAGS=OFF >&2
cmake --build "$work/b-cjson" -j"$jobs" >&2
cmake --install "$work/b-cjson" >&2

log "PCRE2 $v_pcre2"
s=$(fetch pcre2 "$v_pcre2")
cmake -S "$s" -B "$work/b-pcre2" "${cmake_cross[@]}" -DPCRE2_BUILD_PCRE2_8=ON \
    -DPCRE2_BUILD_PCRE2_16=OFF -DPCRE2_BUILD_PCRE2_32=OFF -DPCRE2_SUPPORT_JIT=ON \
    -DPCRE2_BUILD_PCRE2GREP=OFF -DPCRE2_BUILD_TESTS=OFF -DPCRE2_SUPPORT_UNICODE=ON >&2
cmake --build "$work/b-pcre2" -j"$jobs" >&2
cmake --install "$work/b-pcre2" >&2

log "libmicrohttpd $v_mhd"
s=$(fetch libmicrohttpd "$v_mhd")
# Without HTTPS (tektra serves plain HTTP on loopback or behind a proxy);
# only the library and its header.
(cd "$s" && ./configure --host=x86_64-w64-mingw32 CC="$cc" --prefix="$prefix" --disable-shared \
    --enable-static --disable-https --without-gnutls --disable-doc --disable-examples \
    --disable-curl --disable-nls >&2 &&
    make -j"$jobs" -C src/microhttpd >&2 && make -C src/microhttpd install >&2 &&
    make -C src/include install >&2)

touch "$prefix/.complete"
log "built into $prefix"
echo "$prefix"

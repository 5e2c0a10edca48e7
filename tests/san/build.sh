#!/usr/bin/env bash
# make test SAN=1: nginx itself, from Debian's nginx source with Debian's
# configure flags, with apigw compiled in (--add-module), under
# AddressSanitizer and UndefinedBehaviorSanitizer.  Result: build/san/sbin/nginx
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/build/san
src=$out/src
mkdir -p "$out"

ver=$(dpkg-query -W -f='${Version}' nginx-dev | sed 's/-.*//')
if [ ! -d "$src/nginx-$ver" ]; then
    # Debian's source archive: add the deb-src twin of the binary entries
    list=/etc/apt/sources.list.d/apigw-src.sources
    if [ ! -e "$list" ]; then
        sed 's/^Types: deb$/Types: deb-src/' \
            /etc/apt/sources.list.d/debian.sources > "$list"
        apt-get update -qq
    fi
    mkdir -p "$src"
    # the upstream tarball is all that is needed (Debian's patches are not)
    (cd "$src" && apt-get source --download-only nginx >/dev/null 2>&1 || true)
    tarball=$(ls "$src"/nginx_"$ver".orig.tar.gz 2>/dev/null || true)
    [ -n "$tarball" ] || { echo "san: nginx_$ver.orig.tar.gz not found" >&2; exit 1; }
    tar -C "$src" -xzf "$tarball"
fi

cd "$src/nginx-$ver"
. /usr/share/nginx/src/conf_flags
# UBSan recovers: nginx's own sources have benign reports (a NULL source
# with length 0 in ngx_cpystrn()); ASan errors still abort the worker,
# which the integration fixtures catch as "exited on signal".
san="-fsanitize=address,undefined -fno-omit-frame-pointer"
if [ ! -f "$out/configured" ] || [ "$root/config" -nt "$out/configured" ] \
   || [ "$root/build/srclist" -nt "$out/configured" ] \
   || [ "$0" -nt "$out/configured" ]; then
    flags=()
    for f in "${NGX_CONF_FLAGS[@]}"; do
        case $f in
        --prefix=*|--conf-path=*|--error-log-path=*|--pid-path=*|--lock-path=*|--http-*-temp-path=*|--http-log-path=*|--modules-path=*) ;;
        *) flags+=("$f") ;;
        esac
    done
    ./configure --prefix="$out" --with-cc-opt="-g -O1 $san" \
        --with-ld-opt="$san" "${flags[@]}" --add-module="$root" \
        > "$out/configure.log" 2>&1 || { tail -20 "$out/configure.log"; exit 1; }
    touch "$out/configured"
fi
make -j"$(nproc)" -s > "$out/make.log" 2>&1 || { tail -30 "$out/make.log"; exit 1; }
mkdir -p "$out/sbin"
cp objs/nginx "$out/sbin/nginx"
echo "san: built $out/sbin/nginx"

#!/usr/bin/env bash
# Installs the Debian 12 packages apigw needs to build, test, run and bench,
# when they are missing.  Runs as root (or through sudo when available).
set -euo pipefail

pkgs=(
    build-essential pkg-config dpkg-dev
    nginx nginx-dev
    libjansson-dev libyaml-dev libjwt-dev libhiredis-dev libssl-dev
    libpcre2-dev node-llhttp zlib1g-dev
    clang libclang-rt-14-dev
    redis-server wrk curl file openssl ca-certificates
    python3 python3-pytest python3-yaml python3-cryptography
    chromium libnss3-tools
)

missing=()
for p in "${pkgs[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || missing+=("$p")
done

# npm fetches test fixtures; the machine may carry its own Node.js build.
command -v npm >/dev/null || missing+=(npm)

[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || {
        echo "deps: missing packages ${missing[*]}; run as root" >&2; exit 1; }
    sudo=sudo
fi

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# Debian's nginx package starts a service; policy-rc.d keeps it from doing so.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# Install the Debian packages ipckit needs, and only those that are missing.
# As root it runs apt-get; otherwise it prints the exact command and exits 1.
#   scripts/install-deps.sh           build + test dependencies
#   scripts/install-deps.sh --bench   also the optional peers for `make bench`
#   scripts/install-deps.sh --fuzz    also clang + libFuzzer runtime
set -euo pipefail

pkgs=(build-essential cmake pkg-config libcmocka-dev libssl-dev openssl
      python3 curl g++ procps)
for arg in "$@"; do
    case "$arg" in
    --bench) pkgs+=(libzmq3-dev libnng-dev libboost-dev) ;;
    --fuzz) pkgs+=(clang libclang-rt-14-dev) ;;
    --sanitize) ;; # gcc's ASan/UBSan runtimes come with build-essential
    *) echo "install-deps: unknown option $arg" >&2; exit 2 ;;
    esac
done

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
((${#missing[@]} == 0)) && exit 0

cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run: sudo apt-get update && sudo ${cmd[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
"${cmd[@]}"

#!/usr/bin/env bash
# Installs the Debian packages that building, running and testing dmt need,
# only when one is missing. Called by `make run` and `make test`.
#   scripts/deps.sh build   - what `make` and `make run` need
#   scripts/deps.sh test    - also what `make test` needs
set -eu
what=${1:-build}

build_pkgs="gcc make pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev
libsodium-dev libcurl4-gnutls-dev libpq-dev"
test_pkgs="libcriterion-dev wrk curl nodejs npm sqlite3 procps chromium openssl postgresql
python3 valgrind"

pkgs=$build_pkgs
[ "$what" = test ] && pkgs="$pkgs $test_pkgs"

missing=
for p in $pkgs; do
    # node and npm may come from outside Debian (a newer Node on the PATH).
    case $p in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
    esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
        missing="$missing $p"
done

if [ -n "$missing" ]; then
    echo "deps: installing$missing" >&2
    sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >/dev/null
    $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ "$what" = test ] && { [ ! -x tests/node_modules/.bin/redocly ] ||
    [ ! -d tests/node_modules/playwright-core ]; }; then
    echo "deps: installing npm test tools" >&2
    (cd tests && npm ci --no-audit --no-fund --loglevel=error)
fi
exit 0

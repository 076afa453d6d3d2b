#!/usr/bin/env bash
# Runs the store conformance tests against a throw-away PostgreSQL cluster:
#   scripts/unit-pg.sh TEST_BINARY...
# The cluster is started in a new temporary directory and always stopped
# (and the directory removed) when this script ends, pass or fail.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/dmt-pg-XXXXXX)
trap 'bash "$here/pg-test.sh" stop "$dir"' EXIT
trap 'exit 130' INT TERM
url=$(bash "$here/pg-test.sh" start "$dir")
for t in "$@"; do
    echo "== $t (PostgreSQL)"
    DMT_TEST_DB=$url ASAN_OPTIONS=detect_leaks=1 "$t" --jobs 1
done

#!/usr/bin/env bash
# Runs integration test files against `dmt serve --db postgres://...` on a
# throw-away PostgreSQL cluster (every test server gets a database of its
# own, see dbUrl in tests/integration/harness.mjs):
#   scripts/integration-pg.sh [FILE.test.mjs...]   (default: every file of
#                                                   tests/integration)
# Run from the repository root with DMT_BIN and DMT_CLI set (make
# integration-pg does). The cluster is always stopped afterwards.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
    files=(integration/)
fi
bin=
for v in 15 16 17 14 13; do
    [ -x /usr/lib/postgresql/$v/bin/createdb ] && { bin=/usr/lib/postgresql/$v/bin; break; }
done
dir=$(mktemp -d /tmp/dmt-pg-XXXXXX)
trap 'bash "$here/pg-test.sh" stop "$dir"' EXIT
trap 'exit 130' INT TERM
bash "$here/pg-test.sh" start "$dir" >/dev/null
cd tests
DMT_TEST_PG=$dir DMT_TEST_PG_CREATEDB=$bin/createdb \
    node --test --test-concurrency=1 "${files[@]}"

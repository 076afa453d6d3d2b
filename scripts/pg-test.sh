#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the tests (issue 5).
#   scripts/pg-test.sh start DIR   initdb into DIR/data, start the server on a
#                                  Unix socket in DIR (no TCP), wait until it
#                                  accepts connections, print its URL
#   scripts/pg-test.sh stop DIR    stop it (fast shutdown) and remove DIR
#
# PostgreSQL refuses to run as root, so as root the cluster belongs to the
# `postgres` user that Debian's package creates (or to a `dmt-test` system
# user made here when there is none); as anybody else it is that user's.
# Every wait is bounded, so a cluster that cannot start fails the tests
# instead of hanging them. The cluster is tuned for tests, not for data
# that matters: fsync and synchronous commit are off.
set -eu

what=${1:-}
dir=${2:-}
if [ -z "$what" ] || [ -z "$dir" ]; then
    echo "usage: $0 start|stop DIR" >&2
    exit 2
fi

bin=
for v in 15 16 17 14 13; do
    if [ -x /usr/lib/postgresql/$v/bin/pg_ctl ]; then
        bin=/usr/lib/postgresql/$v/bin
        break
    fi
done
if [ -z "$bin" ]; then
    echo "pg-test: no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)" >&2
    exit 1
fi

# The user that owns and runs the cluster, and how to run a command as it.
as=()
owner=$(id -un)
if [ "$(id -u)" = 0 ]; then
    owner=postgres
    if ! id -u "$owner" >/dev/null 2>&1; then
        owner=dmt-test
        id -u "$owner" >/dev/null 2>&1 ||
            useradd --system --no-create-home --shell /usr/sbin/nologin "$owner"
    fi
    as=(runuser -u "$owner" --)
fi

# The socket's port number only names the socket file; DIR is private to
# this cluster, so the default port never collides with another one.
port=5432

case $what in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    # A Unix socket path must fit in 107 bytes.
    if [ ${#dir} -gt 80 ]; then
        echo "pg-test: $dir is too long for a Unix socket path" >&2
        exit 1
    fi
    [ "$(id -u)" = 0 ] && chown "$owner" "$dir"
    chmod 0700 "$dir"
    "${as[@]}" "$bin/initdb" -D "$dir/data" -U dmt -A trust -E UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 32MB
dynamic_shared_memory_type = mmap
log_min_messages = warning
EOF
    # -w waits until the server accepts connections, at most -t seconds.
    if ! "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
        >/dev/null 2>&1; then
        echo "pg-test: the server did not start; its log:" >&2
        cat "$dir/server.log" >&2 || true
        exit 1
    fi
    for _ in $(seq 1 100); do
        "$bin/pg_isready" -q -h "$dir" -p $port && break
        sleep 0.1
    done
    "$bin/pg_isready" -q -h "$dir" -p $port || {
        echo "pg-test: the server does not answer" >&2
        exit 1
    }
    "$bin/createdb" -h "$dir" -p $port -U dmt dmt
    echo "postgres://dmt@/dmt?host=$dir&port=$port"
    ;;
stop)
    [ -d "$dir" ] || exit 0
    if [ -f "$dir/data/postmaster.pid" ]; then
        "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
            "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 10 stop >/dev/null 2>&1 ||
            true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac

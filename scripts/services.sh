#!/usr/bin/env bash
# The services the study tests need, from Debian's packages: a PostgreSQL server on loopback
# (a throwaway cluster, trust authentication, port 54329) and headless Chromium. Installs what
# is missing (apt), starts the server if it is not running, and prints the two lines to export:
#   eval "$(scripts/services.sh)"
set -euo pipefail
PORT=${MEDAUG_PG_PORT:-54329}
DIR=${MEDAUG_PG_DIR:-/tmp/medaug-pg}
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]} (apt)" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi
BIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
if ! "$BIN/pg_isready" -h 127.0.0.1 -p "$PORT" -q; then
    if [ ! -f "$DIR/PG_VERSION" ]; then
        mkdir -p "$DIR"
        [ "$(id -u)" = 0 ] && chown postgres "$DIR"
        as_pg "'$BIN/initdb' -D '$DIR' -A trust -U postgres" >&2
    fi
    as_pg "'$BIN/pg_ctl' -D '$DIR' -l '$DIR/server.log' -w -o \"-h 127.0.0.1 -p $PORT -k /tmp\" start" >&2
fi
"$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='medaug_test'" | grep -q 1 \
    || "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres medaug_test >&2
echo "export MEDAUG_TEST_POSTGRES=postgresql://postgres@127.0.0.1:$PORT/medaug_test"
echo "export MEDAUG_CHROMIUM=$(command -v chromium)"

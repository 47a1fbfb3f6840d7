#!/bin/sh
# The cluster profile's PostgreSQL replica: on first start, a copy of the
# primary (pg_basebackup -R writes standby.signal and how to follow it),
# then the image's entrypoint, which finds the data and starts a hot
# standby. PGPASSWORD is the replicator account's.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_basebackup -h postgres -U replicator -D "$PGDATA" -R -X stream; do
    echo "waiting for the primary"
    rm -rf "${PGDATA:?}"/*
    sleep 2
  done
  chmod 700 "$PGDATA"
fi
exec docker-entrypoint.sh postgres -c hot_standby=on

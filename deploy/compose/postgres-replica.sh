#!/bin/sh
# The cluster profile's PostgreSQL replica: on first start, a copy of the
# primary (pg_basebackup -R writes standby.signal and how to follow it),
# then the image's entrypoint, which finds the data and starts a hot
# standby. PGPASSWORD is the replicator account's, which the primary makes
# when it creates its database (postgres-replication.sh): a postgres volume
# made before the cluster profile has no such account (create it by hand).
# A copy counts only once it finished (the marker file): an interrupted one
# is wiped and made again.
set -eu
if [ ! -e "$PGDATA/.copied-from-primary" ]; then
  until rm -rf "${PGDATA:?}"/* && pg_basebackup -h postgres -U replicator -D "$PGDATA" -R -X stream; do
    echo "waiting for the primary"
    sleep 2
  done
  chmod 700 "$PGDATA"
  touch "$PGDATA/.copied-from-primary"
fi
exec docker-entrypoint.sh postgres -c hot_standby=on

#!/bin/sh
# Run once by the postgres image when it creates its database (mounted into
# /docker-entrypoint-initdb.d): the account the cluster profile's replica
# copies the primary with and follows it by, allowed to replicate over the
# compose network with its password.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v password="$POSTGRES_REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'password';
SQL
echo "host replication replicator all scram-sha-256" >>"$PGDATA/pg_hba.conf"

#!/bin/sh
# Forms the cluster profile's Redis Cluster from the nodes named in the
# arguments (port 6379): three primaries and a replica each. CLUSTER MEET
# takes addresses, so the names are resolved first. Does nothing once the
# first node reports the cluster formed.
set -eu
if redis-cli -h "$1" cluster info | grep -q '^cluster_state:ok'; then
  echo "the Redis Cluster is formed"
  exit 0
fi
nodes=""
for name in "$@"; do
  address=$(getent hosts "$name" | cut -d' ' -f1)
  [ -n "$address" ] || { echo "cannot resolve $name"; exit 1; }
  nodes="$nodes $address:6379"
done
# shellcheck disable=SC2086
redis-cli --cluster create $nodes --cluster-replicas 1 --cluster-yes

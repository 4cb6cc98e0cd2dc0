#!/bin/sh
# The CI Temporal image's entrypoint (temporal.Containerfile): the official image's configuration from the
# environment, for PostgreSQL (the only database this image is built for), then `temporal-server start`.
set -eu
case "${DB:-}" in
  postgres12 | postgres12_pgx) ;;
  *)
    echo "temporal-entrypoint: DB=${DB:-} is not supported by this image (postgres12 only)" >&2
    exit 2
    ;;
esac
: "${POSTGRES_SEEDS:?set POSTGRES_SEEDS}"
: "${POSTGRES_USER:?set POSTGRES_USER}"
: "${POSTGRES_PWD:?set POSTGRES_PWD}"
: "${DB_PORT:=5432}"
: "${DBNAME:=temporal}"
: "${VISIBILITY_DBNAME:=temporal_visibility}"
: "${NUM_HISTORY_SHARDS:=4}"
: "${BIND_ON_IP:=$(getent hosts "$(hostname)" | awk '{ print $1; exit }')}"
broadcast=${TEMPORAL_BROADCAST_ADDRESS:-}
if [ -z "$broadcast" ] && { [ "$BIND_ON_IP" = 0.0.0.0 ] || [ "$BIND_ON_IP" = '::0' ]; }; then
  broadcast=$(getent hosts "$(hostname)" | awk '{ print $1; exit }')
fi
# YAML single-quoted scalars: a quote is doubled.
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }
store() { # name database maxConns
  cat <<YAML
    $1:
      sql:
        pluginName: $(q "$DB")
        databaseName: $(q "$2")
        connectAddr: $(q "$POSTGRES_SEEDS:$DB_PORT")
        connectProtocol: tcp
        user: $(q "$POSTGRES_USER")
        password: $(q "$POSTGRES_PWD")
        maxConns: $3
        maxIdleConns: $3
        maxConnLifetime: 1h
YAML
}
rpc() { # grpcPort membershipPort [httpPort]
  printf '    rpc: { grpcPort: %s, membershipPort: %s, bindOnIP: %s%s }\n' "$1" "$2" "$(q "$BIND_ON_IP")" \
    "${3:+, httpPort: $3}"
}
mkdir -p config/dynamicconfig
[ -f config/dynamicconfig/docker.yaml ] || : > config/dynamicconfig/docker.yaml
umask 077
{
  echo 'log: { stdout: true, level: info }'
  echo 'persistence:'
  echo "  numHistoryShards: $NUM_HISTORY_SHARDS"
  echo '  defaultStore: default'
  echo '  visibilityStore: visibility'
  echo '  datastores:'
  store default "$DBNAME" 20
  store visibility "$VISIBILITY_DBNAME" 10
  echo 'global:'
  echo "  membership: { maxJoinDuration: 30s, broadcastAddress: $(q "$broadcast") }"
  echo 'services:'
  echo '  frontend:'
  rpc 7233 6933 7243
  echo '  matching:'
  rpc 7235 6935
  echo '  history:'
  rpc 7234 6934
  echo '  worker:'
  rpc 7239 6939
  cat <<'YAML'
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: 127.0.0.1:7233
      httpAddress: 127.0.0.1:7243
dcRedirectionPolicy: { policy: noop }
archival:
  history: { state: disabled }
  visibility: { state: disabled }
namespaceDefaults:
  archival:
    history: { state: disabled }
    visibility: { state: disabled }
dynamicConfigClient: { filepath: /etc/temporal/config/dynamicconfig/docker.yaml, pollInterval: 60s }
YAML
} > config/docker.yaml
exec temporal-server --root /etc/temporal --config config --env docker --allow-no-auth start

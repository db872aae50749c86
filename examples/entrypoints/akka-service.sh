#!/bin/sh
# Entrypoint of an Akka cluster service on Marathon.
#
#   ENTRYPOINT ["/akka-service.sh", "java", "-jar", "/app/meter.jar"]
#
# Asks baton-env for the seed nodes (the app's running tasks, oldest first), tells whether this node
# founds the cluster, passes the seeds to the JVM as indexed system properties (Akka reads a list
# setting from `-Dakka.cluster.seed-nodes.0=…`, `.1=…`) and then execs the service.
#
# Environment (Marathon sets MARATHON_APP_ID, MESOS_TASK_ID, HOST and PORT*; the rest is yours):
#   MARATHON_URL      Marathon, e.g. http://marathon.mesos:8080 (comma list allowed)
#   AKKA_SYSTEM       actor system name (default: meter)
#   AKKA_PORT_NAME    name of the remoting port in the app definition (default: use AKKA_PORT_INDEX)
#   AKKA_PORT_INDEX   index of the remoting port (default: 0)
#   AKKA_PROTOCOL     akka.tcp (classic remoting, default) or akka (Artery)
#   SEED_WAIT         how long to wait for Marathon to list this task (default: 60s)
set -eu

app="${MARATHON_APP_ID:?MARATHON_APP_ID is not set: not started by Marathon?}"
if [ -n "${AKKA_PORT_NAME:-}" ]; then
  port_flag="--port-name=$AKKA_PORT_NAME"
  # Marathon sets PORT_<NAME> uppercased, unsanitised; dash drops names that are not identifiers.
  port_var="PORT_$(printf '%s' "$AKKA_PORT_NAME" | tr 'a-z.-' 'A-Z__')"
else
  port_flag="--port-index=${AKKA_PORT_INDEX:-0}"
  port_var="PORT${AKKA_PORT_INDEX:-0}"
fi

# On failure (app missing, Marathon down, nothing running after SEED_WAIT) baton-env prints why and
# exits non-zero; `set -e` then stops the container and Marathon restarts it.
exports="$(baton-env akka --app "$app" "$port_flag" \
  --system "${AKKA_SYSTEM:-meter}" --protocol "${AKKA_PROTOCOL:-akka.tcp}" --wait "${SEED_WAIT:-60s}")"
eval "$exports"

if [ "$AKKA_CLUSTER_FOUNDER" = true ]; then
  echo "akka-service: this node is the oldest running task of $app: it founds the cluster (seeds: $AKKA_SEED_NODES)"
else
  echo "akka-service: joining the cluster of $app via seeds $AKKA_SEED_NODES"
fi

# Seeds never contain spaces or commas of their own: split the list on commas.
seed_opts=""
i=0
old_ifs="$IFS"
IFS=,
for seed in $AKKA_SEED_NODES; do
  seed_opts="$seed_opts -Dakka.cluster.seed-nodes.$i=$seed"
  i=$((i + 1))
done
IFS="$old_ifs"

# Bind where Marathon placed us, and advertise the same address the seed list uses.
eval "remoting_port=\${$port_var:-\${PORT0:-}}"
JAVA_OPTS="${JAVA_OPTS:-}$seed_opts -Dakka.remote.artery.canonical.hostname=${HOST:-} -Dakka.remote.artery.canonical.port=$remoting_port"
JAVA_OPTS="$JAVA_OPTS -Dakka.remote.classic.netty.tcp.hostname=${HOST:-} -Dakka.remote.classic.netty.tcp.port=$remoting_port"
export JAVA_OPTS AKKA_SEED_NODES AKKA_CLUSTER_FOUNDER

exec "$@"

#!/bin/sh
# Entrypoint of a Kafka client on Mesos/DC/OS: finds the brokers, then runs the client with
# KAFKA_BROKERS_LIST=host:port,… in its environment (use it as bootstrap.servers).
#
#   ENTRYPOINT ["/kafka-client.sh", "sh", "-c", "exec java -jar /app/ingest.jar --bootstrap-servers \"$KAFKA_BROKERS_LIST\""]
#
# Environment — one source:
#   KAFKA_ZK          ZooKeeper URL with Kafka's chroot, e.g. zk://master.mesos:2181/dcos-service-kafka
#                     (what `dcos kafka endpoints zookeeper` prints, with zk:// in front)
#   KAFKA_SRV         a DNS SRV name, e.g. _broker._tcp.kafka.mesos (Mesos-DNS or baton-dns)
#     KAFKA_DNS_SERVER  optional DNS server for KAFKA_SRV, ip[:port]
# and:
#   KAFKA_MIN_BROKERS how many brokers to wait for (default 1)
#   KAFKA_WAIT        how long to wait for them (default 60s)
set -eu

if [ -n "${KAFKA_ZK:-}" ]; then
  set -- --zk "$KAFKA_ZK" -- "$@"
elif [ -n "${KAFKA_SRV:-}" ]; then
  if [ -n "${KAFKA_DNS_SERVER:-}" ]; then
    set -- --srv "$KAFKA_SRV" --dns-server "$KAFKA_DNS_SERVER" -- "$@"
  else
    set -- --srv "$KAFKA_SRV" -- "$@"
  fi
else
  echo "kafka-client: set KAFKA_ZK (zk://host:2181/chroot) or KAFKA_SRV (_broker._tcp.kafka.mesos)" >&2
  exit 2
fi

# baton-env looks the brokers up, then runs the command with KAFKA_BROKERS_LIST set, forwarding
# signals and exiting with the command's status.
exec baton-env exec kafka --min "${KAFKA_MIN_BROKERS:-1}" --wait "${KAFKA_WAIT:-60s}" "$@"

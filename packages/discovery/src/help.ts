// --help texts.

const MARATHON = `Marathon:
  --marathon URL            Marathon base URL; repeatable (or a comma list), tried in order.
                            Default: $MARATHON_URL (comma list allowed).
  --auth-credentials U:P    HTTP Basic credentials (default: $MARATHON_USER / $MARATHON_PASSWORD)
  --token T                 DC/OS token, sent as "Authorization: token=T" (default: $DCOS_AUTH_TOKEN)
  --dcos-auth-credentials J DC/OS service account JSON {"uid","private_key","login_endpoint"}: logs in
                            and renews the token (default: $DCOS_SERVICE_ACCOUNT_CREDENTIAL)
  --timeout DUR             per-request timeout (default 10s)`;

const APP = `App and port:
  --app ID                  Marathon app id, e.g. /meter
  --port-index N            use the task's N-th port (PORT<N>); default 0
  --port-name NAME          use the port with this name instead
  --healthy-only            leave out tasks failing their health checks`;

const OUTPUT = `Waiting and output:
  --wait DUR                poll until --min are found, for up to DUR (60s, 500ms, 2m); default: one try
  --min N                   how many must be found (default 1); fewer is an error (exit 1)
  --interval DUR            delay between polls while waiting (default 1s)
  --format F                shell (export NAME='value', default), dotenv (NAME=value) or json
  -h, --help                this help`;

const EXIT = `Exit status: 0 found; 1 not found / app missing / Marathon, ZooKeeper or DNS unreachable; 2 bad flags.`;

export const HELP: Record<string, string> = {
  main: `baton-env: environment variables for container entrypoints, from Marathon, ZooKeeper or DNS.

Usage:
  baton-env akka    --app /meter [--system NAME]          → AKKA_SEED_NODES, AKKA_CLUSTER_FOUNDER
  baton-env kafka   --zk zk://master.mesos:2181/dcos-service-kafka | --app /kafka | --srv NAME
                                                          → KAFKA_BROKERS_LIST
  baton-env service --app /meter --var METER              → METER_HOSTS, METER_HOST, METER_PORT
  baton-env exec <akka|kafka|service> [flags] -- CMD [ARGS...]
                                                          run CMD with those variables set

  eval "$(baton-env akka --app /meter --wait 60s)"

Run "baton-env <subcommand> --help" for the flags of each.
${EXIT}`,

  akka: `baton-env akka: Akka seed nodes from the app's running tasks.

Usage: baton-env akka --app ID [flags]

Prints AKKA_SEED_NODES (comma-separated) and AKKA_CLUSTER_FOUNDER (true|false).
Seeds are ordered by task start time (startedAt, then stagedAt, then task id), so every node gets the
same list, and the first seed is always the oldest running task. This node (found from $MESOS_TASK_ID,
else $HOST + $PORT<n>) is first only when it is that oldest task: then AKKA_CLUSTER_FOUNDER=true and it
founds the cluster (a lone first node finds only itself: that is normal). A node that is not the oldest
is never first. With --healthy-only, unhealthy tasks are left out except the oldest and this node.

  --form F                  host:port (default), hosts, or uri (default when --system is given)
  --system NAME             actor system name: seeds become <protocol>://NAME@host:port
  --protocol P              akka.tcp (default, classic remoting) or akka (Artery)
  --var NAME                print the list as NAME instead of AKKA_SEED_NODES

${APP}

${MARATHON}

${OUTPUT}

${EXIT}`,

  kafka: `baton-env kafka: Kafka brokers as host:port.

Usage: baton-env kafka (--zk URL | --app ID | --srv NAME) [flags]

Prints KAFKA_BROKERS_LIST (comma-separated).
  --zk URL                  zk://host:2181[,host:2181]/chroot — the brokers registered under
                            <chroot>/brokers/ids (DC/OS: zk://master.mesos:2181/dcos-service-kafka),
                            ordered by broker id; the PLAINTEXT listener is preferred
  --listener NAME           with --zk: take each broker's address from this listener (e.g. INTERNAL)
  --app ID                  the running tasks of a Marathon app (with --port-index/--port-name,
                            --healthy-only), oldest first
  --srv NAME                a DNS SRV name, e.g. _broker._tcp.kafka.mesos (any Mesos-DNS-compatible
                            server), ordered by priority, target, port
  --dns-server IP[:PORT]    DNS server for --srv (default: the system's)
  --var NAME                print the list as NAME instead of KAFKA_BROKERS_LIST

${MARATHON}

${OUTPUT}

${EXIT}`,

  service: `baton-env service: addresses of any Marathon app.

Usage: baton-env service --app ID --var NAME [flags]

Prints NAME_HOSTS (every running task, host:port, oldest first), and NAME_HOST / NAME_PORT of one
task: the oldest listed one, so every caller picks the same.
  --var NAME                the variable prefix, e.g. METER
  --form F                  host:port (default) or hosts (NAME_HOSTS without ports)

${APP}

${MARATHON}

${OUTPUT}

${EXIT}`,

  exec: `baton-env exec: run a command with the variables set.

Usage: baton-env exec <akka|kafka|service> [flags of that subcommand] -- CMD [ARGS...]

Looks the variables up exactly as the subcommand does (--format is ignored), then runs CMD with them
added to the environment. Node cannot replace its own process (no execve), so baton-env starts CMD
with the same stdin/stdout/stderr, forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to it,
and exits with its exit status — or, if CMD is killed by a signal, kills itself with the same signal.
If the lookup fails, CMD is not started and baton-env exits 1 (2 for bad flags); 127 if CMD cannot be
started.

  ENTRYPOINT ["baton-env", "exec", "akka", "--app", "/meter", "--wait", "60s", "--", "bin/meter"]`,
};

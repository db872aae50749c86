// @baton/discovery: Akka seed nodes, Kafka brokers and service addresses for container entrypoints.

export {
  akkaSeedNodes,
  serviceAddresses,
  kafkaBrokers,
  type AkkaSeedOptions,
  type AkkaSeeds,
  type ServiceOptions,
  type ServiceAddresses,
  type KafkaOptions,
  type AppOptions,
  type MarathonOptions,
  type WaitOptions,
} from './discover.js';
export {
  planSeeds,
  sortByStart,
  compareByStart,
  findSelf,
  formatSeed,
  hostForAddress,
  type Candidate,
  type SelfIdentity,
  type SelfPosition,
  type SeedPlan,
  type SeedForm,
  type AkkaProtocol,
} from './seeds.js';
export { appEndpoints, appPorts, resolvePortIndex, PortChoiceError, type PortChoice, type AppEndpoints, type AppPortInfo } from './endpoints.js';
export { formatVariables, shellQuote, dotenvQuote, isVariableName, type OutputFormat, type Variables } from './format.js';
export { marathonUrls, marathonAuth, selfFromEnv, parseDuration, type Env } from './config.js';
export { fetchApp, canonicalAppId, type MarathonAccess, type MarathonAuth } from './marathon-rest.js';
export { srvAddresses } from './srv.js';
export {
  DiscoveryError,
  UsageError,
  AppNotFoundError,
  MarathonUnreachableError,
  MarathonRequestError,
  ZooKeeperError,
  SrvLookupError,
  NotEnoughError,
} from './errors.js';

export { MarathonSimulator, SimulatorError, type SimulatorOptions, type AuthOptions, type Fault, type VirtualHealth } from './simulator.js';
export { Cluster, virtualAgentHost, type SimApp, type SimTask, type Agent, type ClusterOptions, type ClusterHooks, type LaunchRequest, type Placement, type HealthResult, type DeploymentResult } from './cluster.js';
export { normalizeAppDefinition, type PortSpec, type HealthCheckSpec, type NetworkMode } from './normalize.js';
export { safePath, toHostname, taskIdentity, canonicalAppId, type IdFormat } from './ids.js';
export { taskEnvironment, HOST_OVERRIDE } from './env.js';
export { mesosState, portRanges, type ExtraFramework, type ExtraTask } from './mesos-state.js';
export { sseFrame } from './events.js';
export { DcosLoginEmulator, type DcosLoginOptions as DcosLoginEmulatorOptions } from './dcos-login.js';

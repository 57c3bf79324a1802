/**
 * Failure detection. The daemon creates one ClusterMonitor per cluster, listens for
 * 'verdict' events and acts only on failoverAllowed; everything else is an alert.
 */
export { ClusterMonitor } from './monitor';
export type { MonitorOptions, VerdictEvent, ReplicasEvent, RoundEvent, ClusterMonitorEvents } from './monitor';
export { analyze, RULES, deriveFacts, decideFailover } from './verdict';
export { replicaSight } from './sight';
export type { MasterRef } from './sight';
export { replicaFindings } from './findings';
export { initialState, step, DEFAULT_MACHINE_PARAMS } from './state';
export type { MachineParams, MachineState, StateChange } from './state';
export { classifyPingError, classifyGreeting, tcpProbe } from './probes';
export * from './types';

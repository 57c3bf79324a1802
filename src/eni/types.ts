/**
 * The address mover's contract: how the application's database address is taken
 * from the old master (fence) and given to the new one (attach), whatever moves
 * it (an ENI, a secondary private IP, an MHA-style script, or nothing).
 */
import type { ClusterConfig, NodeConfig } from '../config/schema';
import type { Logger } from '../util/log';

export type MoverKind = 'eni' | 'secondary-ip' | 'havip' | 'script' | 'none';

export interface MoveContext {
  cluster: ClusterConfig;
  oldMaster?: NodeConfig;
  newMaster?: NodeConfig;
  reason: 'failover' | 'switchover' | 'manual';
  signal?: AbortSignal;
  log?: Logger;
  /**
   * Whether the old master's host answers SSH, when the caller already knows
   * (detection does). The script mover then calls --command=stopssh (true) or
   * --command=stop (false); when undefined it probes SSH itself.
   */
  oldMasterSshReachable?: boolean;
  /**
   * Called at named points inside an attach, where a manager that dies leaves the address
   * half moved: 'detached' (the address is on no node and the attach request is next) and
   * 'requested' (the attach request was accepted; the address is not in use yet). The ENI
   * mover calls it; a rerun's attach must finish from either point.
   */
  at?: (point: 'detached' | 'requested') => void | Promise<void>;
  /**
   * attach only: this caller's fence of the same address, still settling (it resolves when
   * the fence ends, however it ends). Given only to a mover that says attachesWhileFencing;
   * every other mover is called once the fence has ended.
   */
  fencing?: Promise<unknown>;
}

/** One cloud API call made during an operation. */
export interface ApiCallRecord {
  action: string;
  code?: string;
  requestId?: string;
}

export interface MoveOutcome {
  ok: boolean;
  /** What was done, e.g. 'detached', 'already-detached', 'attached', 'already-attached', 'force-stopped+detached'. */
  action: string;
  /** One sentence for the operator: names the ENI/address, the instances, the API error code and RequestId. */
  detail: string;
  durationMs: number;
  apiCalls: ApiCallRecord[];
  /** Machine-readable failure code (API error code, 'timeout', 'verify-failed', 'stuck-detaching', ...). */
  code?: string;
}

export interface AddressStatus {
  kind: MoverKind;
  /** The address clients use (floating IP), when configured. */
  address?: string;
  /** The node the address is on now (resolved from the instance), undefined when on none/unknown. */
  holder?: string;
  /** Instance currently holding the ENI/IP. */
  instanceId?: string;
  /** ENI id (eni mover) or ENI carrying the secondary IP (secondary-ip mover). */
  eniId?: string;
  /** Cloud status (ENI: Available, Attaching, InUse, Detaching, Deleting), or the script's status output. */
  state: string;
  /** True when the address is settled on one node (InUse) and not in transition. */
  settled: boolean;
  detail: string;
  apiCalls: ApiCallRecord[];
}

export interface PreflightResult {
  /** Short name of the check, e.g. 'eni-exists', 'eni-secondary', 'zone:db2'. */
  check: string;
  ok: boolean;
  /** Errors block failover; warnings are reported. */
  severity: 'error' | 'warning';
  detail: string;
}

/**
 * Does a planned move (switchover) give the address to the new master before taking it from
 * the old one? A HaVip: the VPC delivers it to the instance that announced it last, so the two
 * hosts do not compete, while fenced first it would be on no host for an SSH round trip (a
 * connection attempt in that moment is dropped without an answer, and the application's connect
 * timeout becomes its pause). An ENI or a secondary IP cannot be on two hosts: fenced first. A
 * failover always fences first (the old master's state is unknown).
 */
export function attachesBeforeFence(type: ClusterConfig['address']['type']): boolean {
  return type === 'havip';
}

export interface AddressMover {
  kind: MoverKind;
  /**
   * The attach may start while the caller's fence still settles (MoveContext.fencing): the
   * mover proves the old holder let go by itself. The ENI mover when Describe lags
   * (cloud.describe_lag_ms): the ECS API accepts AttachNetworkInterface only for an Available
   * ENI, so an accepted attach is that proof, up to describe_lag_ms before a Describe shows it.
   */
  readonly attachesWhileFencing?: boolean;
  /** Take the address away from the old master (may be unreachable/hung). Idempotent. */
  fence(ctx: MoveContext): Promise<MoveOutcome>;
  /** Give the address to the new master, verify it. Idempotent. */
  attach(ctx: MoveContext): Promise<MoveOutcome>;
  status(ctx: Omit<MoveContext, 'newMaster'>): Promise<AddressStatus>;
  preflight(cluster: ClusterConfig): Promise<PreflightResult[]>;
}

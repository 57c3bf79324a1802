/**
 * Address movers: how the application's database address follows the master.
 * createMover picks the implementation from the cluster's `address.type`.
 *
 * The cloud movers (eni, secondary-ip, havip) and the ECS API adapter are loaded on first use: the
 * Alibaba Cloud SDK is ~1,150 modules, ~20 MB of V8 heap and ~65 MB of RSS once required, and
 * takes about a second to load. A process that moves no cloud address (script or none
 * movers, most CLI commands) never pays for it; the daemon calls loadCloudMovers() at start
 * when a cluster needs one, so a failover never waits for the SDK to load.
 */
import type { ClusterConfig, GlobalSettings, NodeConfig } from '../config/schema';
import { silentLogger, type Logger } from '../util/log';
import type * as EcsApiModule from './ecs-api';
import type * as EniMoverModule from './eni-mover';
import type { MoverTuning } from './eni-mover';
import { ScriptMover } from './script-mover';
import type * as SecondaryIpMoverModule from './secondary-ip-mover';
import type * as HaVipMoverModule from './havip-mover';
import type { AddressMover, AddressStatus, MoveContext, MoveOutcome, PreflightResult } from './types';

export type { AddressMover, AddressStatus, ApiCallRecord, MoveContext, MoveOutcome, MoverKind, PreflightResult } from './types';
export { attachesBeforeFence } from './types';
export type { EniInfo, InstanceInfo } from './ecs-api';
export type { MoverTuning } from './eni-mover';
export { ScriptMover, runScript } from './script-mover';
export { planAttach, planFence } from './eni-plan';

/* eslint-disable @typescript-eslint/no-require-imports */
const ecsApiModule = (): typeof EcsApiModule => require('./ecs-api') as typeof EcsApiModule;
const eniMoverModule = (): typeof EniMoverModule => require('./eni-mover') as typeof EniMoverModule;
const secondaryIpMoverModule = (): typeof SecondaryIpMoverModule => require('./secondary-ip-mover') as typeof SecondaryIpMoverModule;
const haVipMoverModule = (): typeof HaVipMoverModule => require('./havip-mover') as typeof HaVipMoverModule;
/* eslint-enable @typescript-eslint/no-require-imports */

// The cloud classes stay exported from here, each loaded when first touched.
export type EcsApi = EcsApiModule.EcsApi;
export type EcsApiError = EcsApiModule.EcsApiError;
export type EniMover = EniMoverModule.EniMover;
export type SecondaryIpMover = SecondaryIpMoverModule.SecondaryIpMover;
export declare const EcsApi: typeof EcsApiModule.EcsApi;
export declare const EcsApiError: typeof EcsApiModule.EcsApiError;
export declare const EniMover: typeof EniMoverModule.EniMover;
export declare const SecondaryIpMover: typeof SecondaryIpMoverModule.SecondaryIpMover;
export declare const defaultTuning: typeof EniMoverModule.defaultTuning;
for (const [name, get] of [
  ['EcsApi', () => ecsApiModule().EcsApi],
  ['EcsApiError', () => ecsApiModule().EcsApiError],
  ['EniMover', () => eniMoverModule().EniMover],
  ['SecondaryIpMover', () => secondaryIpMoverModule().SecondaryIpMover],
  ['defaultTuning', () => eniMoverModule().defaultTuning],
] as const) {
  Object.defineProperty(exports, name, { enumerable: true, get });
}

/**
 * Load the cloud movers and the Alibaba Cloud SDK now (the daemon, when a cluster moves an ENI,
 * a secondary IP or a HaVip). The HaVip mover also loads the VPC SDK (about as large as the
 * ECS one): only when `types` asks for it.
 */
export function loadCloudMovers(types: readonly string[] = ['eni', 'secondary-ip', 'havip']): void {
  eniMoverModule();
  secondaryIpMoverModule();
  if (types.includes('havip')) haVipMoverModule();
}

/** Whether a cluster's address mover is a cloud one (needs the Alibaba Cloud SDK). */
export function usesCloudMover(cluster: ClusterConfig): boolean {
  return cluster.address.type === 'eni' || cluster.address.type === 'secondary-ip' || cluster.address.type === 'havip';
}

export interface CreateMoverOptions {
  log?: Logger;
  /** Poll/stuck/backoff timings of the ENI mover (defaults from cloud.operation_timeout_s). */
  tuning?: Partial<MoverTuning>;
}

/** The `none` mover: the address is managed elsewhere (or there is none). */
export class NoneMover implements AddressMover {
  readonly kind = 'none' as const;
  private ok(action: string): MoveOutcome {
    return { ok: true, action, detail: 'address.type is none: heir does not move any address', durationMs: 0, apiCalls: [] };
  }
  async fence(): Promise<MoveOutcome> {
    return this.ok('none');
  }
  async attach(): Promise<MoveOutcome> {
    return this.ok('none');
  }
  async status(): Promise<AddressStatus> {
    return { kind: 'none', state: 'none', settled: true, detail: 'address.type is none: heir moves no address', apiCalls: [] };
  }
  async preflight(): Promise<PreflightResult[]> {
    return [];
  }
}

/** A cloud mover without heir.cloud settings: every call reports the missing configuration. */
class UnconfiguredMover implements AddressMover {
  constructor(
    readonly kind: 'eni' | 'secondary-ip' | 'havip',
    private readonly why: string,
  ) {}
  private fail(): MoveOutcome {
    return { ok: false, action: 'failed', code: 'NoCloudSettings', detail: this.why, durationMs: 0, apiCalls: [] };
  }
  async fence(): Promise<MoveOutcome> {
    return this.fail();
  }
  async attach(): Promise<MoveOutcome> {
    return this.fail();
  }
  async status(): Promise<AddressStatus> {
    return { kind: this.kind, state: 'unknown', settled: false, detail: this.why, apiCalls: [] };
  }
  async preflight(): Promise<PreflightResult[]> {
    return [{ check: 'cloud-config', ok: false, severity: 'error', detail: this.why }];
  }
}

export function createMover(cluster: ClusterConfig, global: GlobalSettings, o: CreateMoverOptions = {}): AddressMover {
  const log = o.log ?? silentLogger;
  const a = cluster.address;
  switch (a.type) {
    case 'none':
      return new NoneMover();
    case 'script':
      return new ScriptMover(cluster, log);
    case 'eni':
    case 'secondary-ip':
    case 'havip': {
      if (!global.cloud) {
        return new UnconfiguredMover(a.type, `cluster ${cluster.name}: address.type ${a.type} needs heir.cloud (at least region_id); credentials come from the environment or the manager's RAM role, never from the config`);
      }
      if (a.type === 'eni') {
        const { EniMover, defaultTuning } = eniMoverModule();
        return new EniMover(cluster, global.cloud, log, { ...defaultTuning(global.cloud), ...(o.tuning ?? {}) });
      }
      if (a.type === 'havip') return new (haVipMoverModule().HaVipMover)(cluster, global.cloud, log);
      return new (secondaryIpMoverModule().SecondaryIpMover)(cluster, global.cloud, log);
    }
  }
}

function findNode(cluster: ClusterConfig, n: NodeConfig | string | undefined): NodeConfig | undefined {
  if (n === undefined) return undefined;
  if (typeof n !== 'string') return n;
  const hit = cluster.nodes.find((x) => x.name === n);
  if (!hit) throw new Error(`cluster ${cluster.name} has no node ${n} (nodes: ${cluster.nodes.map((x) => x.name).join(', ')})`);
  return hit;
}

/** `heir eni status --cluster NAME`: where the address is now. Read-only. */
export async function eniStatus(cluster: ClusterConfig, global: GlobalSettings, o: { log?: Logger; signal?: AbortSignal } = {}): Promise<AddressStatus> {
  const mover = createMover(cluster, global, o);
  const ctx: Omit<MoveContext, 'newMaster'> = { cluster, reason: 'manual' };
  if (o.log) ctx.log = o.log;
  if (o.signal) ctx.signal = o.signal;
  return mover.status(ctx);
}

export interface MoveResult {
  ok: boolean;
  /** Where the address was before (node name), when known. */
  from?: string;
  to: string;
  fence: MoveOutcome;
  attach?: MoveOutcome;
}

/**
 * `heir eni move --cluster NAME --to NODE [--from NODE]`: take the address from its
 * current holder (or `from`) and give it to `to`. Moves the address only; it does
 * not change any server's role.
 */
export async function move(
  cluster: ClusterConfig,
  global: GlobalSettings,
  o: { to: NodeConfig | string; from?: NodeConfig | string; log?: Logger; signal?: AbortSignal; tuning?: Partial<MoverTuning> },
): Promise<MoveResult> {
  const mover = createMover(cluster, global, o);
  const to = findNode(cluster, o.to)!;
  let from = findNode(cluster, o.from);
  if (!from && (mover.kind === 'eni' || mover.kind === 'secondary-ip' || mover.kind === 'havip')) {
    const s = await mover.status({ cluster, reason: 'manual' });
    if (s.holder && s.holder !== to.name) from = findNode(cluster, s.holder);
  }
  const ctx: MoveContext = { cluster, newMaster: to, reason: 'manual' };
  if (from) ctx.oldMaster = from;
  if (o.log) ctx.log = o.log;
  if (o.signal) ctx.signal = o.signal;
  const fence = from ? await mover.fence(ctx) : { ok: true, action: 'nothing-to-fence', detail: 'the address is on no other node', durationMs: 0, apiCalls: [] };
  const r: MoveResult = { ok: false, to: to.name, fence };
  if (from) r.from = from.name;
  if (!fence.ok) return r;
  r.attach = await mover.attach(ctx);
  r.ok = r.attach.ok;
  return r;
}

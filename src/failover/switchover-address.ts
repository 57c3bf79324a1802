/**
 * The address mover as the switchover uses it: preflight checks, fence the old
 * master, attach the new one (src/eni does the work).
 */
import { GlobalSettings, type ClusterConfig, type NodeConfig } from '../config/schema';
import { createMover } from '../eni';
import type { Logger } from '../util/log';
import type { AddressCheck } from './switchover-preflight';

/** What an address move did, as the switchover report shows it. */
export interface MoveSummary {
  ok: boolean;
  action: string;
  detail: string;
  durationMs: number;
}

export interface SwitchoverAddress {
  preflight(): Promise<{ kind: string; checks: AddressCheck[] }>;
  fence(ctx: { oldMaster: NodeConfig; newMaster: NodeConfig }): Promise<MoveSummary>;
  attach(ctx: { oldMaster: NodeConfig; newMaster: NodeConfig }): Promise<MoveSummary>;
}

export function addressMover(cluster: ClusterConfig, global: GlobalSettings | undefined, log: Logger): SwitchoverAddress {
  // Created now, before the switchover opens its connections: a cloud mover loads the
  // Alibaba Cloud SDKs (seconds on a busy host, the event loop blocked meanwhile), which
  // must not happen while those connections wait for their connect timeouts.
  const mover = createMover(cluster, global ?? GlobalSettings.parse({}), { log });
  const get = () => mover;
  const summary = (o: { ok: boolean; action: string; detail: string; durationMs: number }): MoveSummary => ({
    ok: o.ok,
    action: o.action,
    detail: o.detail,
    durationMs: o.durationMs,
  });
  return {
    async preflight() {
      const m = get();
      const rs = await m.preflight(cluster);
      return { kind: m.kind, checks: rs.map((r) => ({ name: r.check, ok: r.ok, severity: r.severity, detail: r.detail })) };
    },
    // The old master's host is up (its mysqld just answered): MHA scripts get --command=stopssh.
    fence: async (ctx) => summary(await get().fence({ cluster, ...ctx, reason: 'switchover', log, oldMasterSshReachable: true })),
    attach: async (ctx) => summary(await get().attach({ cluster, ...ctx, reason: 'switchover', log })),
  };
}

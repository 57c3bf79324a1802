/**
 * The failover state (journals, cluster lock, anti-flapping block) where the daemons keep it,
 * for the CLI: in etcd under heir.ha, read only — only the manager that leads a cluster
 * records anything there, under its lease — and in state_dir otherwise.
 */
import type { HeirConfig } from '../config/schema';
import { LocalDiskStore, type FailoverStore } from '../failover/store';
import { EtcdFailoverStore } from '../ha/etcd-store';
import { HaSession } from '../ha/leadership';
import { CliError, ExitCode } from './exit';

export interface CliStore {
  store: FailoverStore;
  close(): Promise<void>;
}

/** The store to read (a CLI never campaigns for a leadership: under heir.ha it only reads). */
export function cliStore(cfg: HeirConfig): CliStore {
  if (!cfg.heir.ha) return { store: new LocalDiskStore(cfg.heir.state_dir), close: async () => undefined };
  const session = new HaSession(cfg.heir.ha);
  return { store: new EtcdFailoverStore(session, cfg.heir.state_dir), close: () => session.close() };
}

/**
 * Under heir.ha an action that changes a cluster is recorded in etcd under the cluster
 * leader's lease, which a CLI does not hold: refuse, and say where the action is taken.
 */
export function refuseUnderHa(cfg: HeirConfig, cluster: string, what: string, instead: string): void {
  if (!cfg.heir.ha) return;
  throw new CliError(
    `heir.ha is set: ${what} of ${cluster} is journaled in etcd under the lease of the manager that leads the cluster, and this command holds none; ${instead}`,
    ExitCode.BLOCKED,
  );
}

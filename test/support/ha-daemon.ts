/**
 * heir daemons under heir.ha for the HA tests: one configuration file and state directory per
 * manager in `dir`, the daemon's output kept (and its JSON log lines parsed on demand), and
 * stopped by pid at the end of the file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../lab/ports';
import { HaSettings, type ClusterConfig } from '../../src/config/schema';
import type { JournalSummary } from '../../src/failover/journal';
import { EtcdFailoverStore } from '../../src/ha/etcd-store';
import { HaSession } from '../../src/ha/leadership';
import { HEIR_BIN, jsonLogLines, until } from './cli';

export interface HaManager {
  id: string;
  stateDir: string;
  /** The daemon's API, http://127.0.0.1:<port>. */
  api: string;
  child: ChildProcess;
  exited: Promise<unknown>;
  out: string;
  log(): any[];
}

export interface HaManagerOptions {
  dir: string;
  id: string;
  cluster: ClusterConfig;
  /** More clusters in this manager's configuration. */
  more?: ClusterConfig[];
  endpoints: string[];
  prefix: string;
  /** heir.ha.lease_ttl_s; omitted, the daemon's default. */
  leaseTtlS?: number;
  /** heir.ha.etcd.request_timeout_ms: 1000 unless given; null, the daemon's default. */
  requestTimeoutMs?: number | null;
  /** Run the daemon inside this network namespace (ip netns exec). */
  ns?: string;
  /** heir.api.token (the same on every manager); without one the API is read-only. */
  token?: string;
  /** More heir settings (e.g. cloud for an ENI). */
  heir?: Record<string, unknown>;
  /** More environment for the daemon (e.g. cloud credentials). */
  env?: NodeJS.ProcessEnv;
}

export async function startHaManager(o: HaManagerOptions): Promise<HaManager> {
  const stateDir = path.join(o.dir, o.id);
  const configPath = path.join(o.dir, `${o.id}.yaml`);
  const port = await freePort();
  fs.writeFileSync(
    configPath,
    stringify({
      heir: {
        state_dir: stateDir,
        log_level: 'info',
        // Loopback, so the other managers are told the address (on a real manager: its VPC address).
        api: { listen: `127.0.0.1:${port}`, advertise_url: `http://127.0.0.1:${port}`, ...(o.token ? { token: o.token } : {}) },
        ha: {
          etcd: { endpoints: o.endpoints, ...(o.requestTimeoutMs === null ? {} : { request_timeout_ms: o.requestTimeoutMs ?? 1000 }) },
          manager_id: o.id,
          ...(o.leaseTtlS !== undefined ? { lease_ttl_s: o.leaseTtlS } : {}),
          prefix: o.prefix,
        },
        ...o.heir,
      },
      clusters: [o.cluster, ...(o.more ?? [])],
    }),
  );
  const argv = [process.execPath, HEIR_BIN, 'daemon', '--config', configPath];
  const [cmd, ...args] = o.ns ? ['ip', 'netns', 'exec', o.ns, ...argv] : argv;
  const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env, HEIR_LOG_LEVEL: '' } });
  const m: HaManager = {
    id: o.id,
    stateDir,
    api: `http://127.0.0.1:${port}`,
    child,
    exited: new Promise((r) => child.once('exit', r)),
    out: '',
    log: () => jsonLogLines(m.out),
  };
  child.stdout!.on('data', (c: Buffer) => (m.out += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (m.out += c.toString('utf8')));
  return m;
}

/** Whether the daemon logged "heir ready" (its API listens and its clusters started). */
export const haManagerIsReady = (m: HaManager): boolean => m.log().some((l) => /^heir ready/.test(l.msg ?? ''));

/**
 * Until the daemon logged "heir ready" (its API listens and its clusters started); if it exits
 * first, the error carries the end of its output.
 */
export async function haManagerReady(m: HaManager, timeoutMs = 60_000): Promise<void> {
  await until(`"heir ready" from ${m.id}`, timeoutMs, () => {
    if (m.child.exitCode !== null || m.child.signalCode !== null) {
      throw new Error(`${m.id} exited (${m.child.exitCode ?? m.child.signalCode}) before it was ready; it said:\n${m.out.slice(-4000)}`);
    }
    return haManagerIsReady(m);
  });
}

/** SIGKILL every manager still running (they are this test file's own children) and wait for each. */
export async function killHaManagers(managers: HaManager[]): Promise<void> {
  for (const m of managers) {
    if (m.child.exitCode === null && m.child.signalCode === null) {
      m.child.kill('SIGKILL');
      await m.exited;
    }
  }
}

/**
 * The journals the daemons keep in etcd under heir.ha (each names the manager that began
 * it), read the way heir reads them; a reader only: it never campaigns nor writes.
 */
export interface HaJournals {
  list(cluster: string): Promise<JournalSummary[]>;
  store: EtcdFailoverStore;
  close(): Promise<void>;
}

export function haJournals(endpoints: string[], prefix: string): HaJournals {
  const session = new HaSession(HaSettings.parse({ etcd: { endpoints, request_timeout_ms: 3000 }, manager_id: 'test-reader', lease_ttl_s: 2, prefix }));
  // A reader keeps no report: its state_dir (for reports) is one that does not exist.
  const store = new EtcdFailoverStore(session, path.join(os.tmpdir(), `heir-test-reader-${process.pid}-none`));
  return { list: (cluster) => store.listJournals(cluster), store, close: () => session.close() };
}

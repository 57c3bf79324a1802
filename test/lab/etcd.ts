/**
 * A three-member etcd cluster on loopback ports for the manager high-availability tests.
 *
 * Every member is Debian's /usr/bin/etcd (scripts/setup.sh installs etcd-server) with
 * free client and peer ports on 127.0.0.1 and its own data dir under one temporary
 * folder. Members are tracked by pid (procs.ts): whatever happens to the test, they are
 * killed when the test process exits. A member can be killed, stopped (SIGSTOP, for
 * quorum-loss tests: the process keeps its ports but answers nothing), resumed, or
 * restarted on the same data dir.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { freePort } from './ports';
import { Tracked, spawnTracked, terminate, signal, sleep, stopAndWait, tailFile } from './procs';

export const ETCD_BIN = process.env.HEIR_ETCD_BIN ?? '/usr/bin/etcd';
export const ETCDCTL_BIN = process.env.HEIR_ETCDCTL_BIN ?? '/usr/bin/etcdctl';

export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  logFile: string;
  proc?: Tracked;
  paused: boolean;
}

export interface EtcdLab {
  dir: string;
  members: EtcdMember[];
  /** Client URLs of every member, for a client's endpoints. */
  endpoints: string[];
  /** SIGKILL one member (its data dir stays: restart() brings it back). */
  kill(i: number): Promise<void>;
  /** SIGSTOP one member: it keeps its ports and answers nothing. */
  pause(i: number): void;
  /** SIGCONT a paused member. */
  resume(i: number): void;
  /** Start a killed member again on its data dir; resolves when it answers. */
  restart(i: number): Promise<void>;
  /** `etcdctl endpoint health` against every member that runs: true when all answer healthy. */
  healthy(): boolean;
  /** Stop every member (SIGCONT first for paused ones); removes the folder unless HEIR_LAB_KEEP=1. */
  stop(): Promise<void>;
}

export function etcdAvailable(): string | undefined {
  for (const b of [ETCD_BIN, ETCDCTL_BIN]) {
    if (!fs.existsSync(b)) return `${b} missing: run scripts/setup.sh (Debian packages etcd-server, etcd-client)`;
  }
  return undefined;
}

function argv(m: EtcdMember, cluster: string, state: 'new' | 'existing'): string[] {
  return [
    ETCD_BIN,
    '--name', m.name,
    '--data-dir', m.dataDir,
    '--listen-client-urls', m.clientUrl,
    '--advertise-client-urls', m.clientUrl,
    '--listen-peer-urls', m.peerUrl,
    '--initial-advertise-peer-urls', m.peerUrl,
    '--initial-cluster', cluster,
    '--initial-cluster-state', state,
    '--initial-cluster-token', 'heir-lab',
    '--logger', 'zap',
    '--log-outputs', 'stderr',
  ];
}

function ctl(endpoints: string[], ...args: string[]): string {
  return execFileSync(ETCDCTL_BIN, [`--endpoints=${endpoints.join(',')}`, '--dial-timeout=1s', '--command-timeout=2s', ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Starts three members and waits until the cluster answers a write (at most timeoutMs). */
export async function startEtcdLab(opts: { timeoutMs?: number } = {}): Promise<EtcdLab> {
  const missing = etcdAvailable();
  if (missing) throw new Error(`lab: ${missing}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-etcd-'));
  const members: EtcdMember[] = [];
  for (let i = 0; i < 3; i++) {
    const name = `e${i + 1}`;
    members.push({
      name,
      clientUrl: `http://127.0.0.1:${await freePort()}`,
      peerUrl: `http://127.0.0.1:${await freePort()}`,
      dataDir: path.join(dir, name),
      logFile: path.join(dir, `${name}.log`),
      paused: false,
    });
  }
  const cluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  const endpoints = members.map((m) => m.clientUrl);

  const start = (m: EtcdMember, state: 'new' | 'existing') => {
    m.proc = spawnTracked(`etcd ${m.name}`, argv(m, cluster, state), m.logFile);
    m.paused = false;
  };
  const waitAnswers = async (eps: string[], what: string, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      try {
        ctl(eps, 'put', 'heir-lab/ready', String(Date.now()));
        return;
      } catch (e) {
        last = String((e as { stderr?: string }).stderr ?? (e as Error).message).trim();
      }
      for (const m of members) {
        if (m.proc && !m.proc.running && !m.paused && eps.includes(m.clientUrl)) {
          throw new Error(`lab: etcd ${m.name} exited while starting; log:\n${tailFile(m.logFile)}`);
        }
      }
      if (Date.now() > deadline) throw new Error(`lab: ${what} did not answer within ${timeoutMs} ms (${last})`);
      await sleep(100);
    }
  };

  const stopAll = async () => {
    for (const m of members) {
      if (m.proc) await terminate(m.proc, 0);
    }
  };
  try {
    for (const m of members) start(m, 'new');
    await waitAnswers(endpoints, 'the etcd cluster', opts.timeoutMs ?? 30000);
  } catch (e) {
    await stopAll();
    throw e;
  }

  const member = (i: number) => {
    const m = members[i];
    if (!m) throw new Error(`lab: no etcd member ${i}`);
    return m;
  };
  return {
    dir,
    members,
    endpoints,
    async kill(i) {
      const m = member(i);
      if (m.proc) await terminate(m.proc, 0);
      m.paused = false;
    },
    pause(i) {
      const m = member(i);
      if (m.proc && !stopAndWait(m.proc)) throw new Error(`etcd lab: member ${i} (pid ${m.proc.pid}) did not stop within 2 s of SIGSTOP`);
      m.paused = true;
    },
    resume(i) {
      const m = member(i);
      if (m.proc) signal(m.proc, 'SIGCONT');
      m.paused = false;
    },
    async restart(i) {
      const m = member(i);
      if (m.proc?.running) throw new Error(`lab: etcd ${m.name} still runs (pid ${m.proc.pid})`);
      start(m, 'existing');
      const live = members.filter((x) => x.proc?.running && !x.paused).map((x) => x.clientUrl);
      await waitAnswers(live.length >= 2 ? live : [m.clientUrl], `etcd ${m.name}`, 30000);
    },
    healthy() {
      const eps = members.filter((m) => m.proc?.running).map((m) => m.clientUrl);
      try {
        ctl(eps, 'endpoint', 'health');
        return true;
      } catch {
        return false;
      }
    },
    async stop() {
      for (const m of members) {
        if (m.proc && m.paused) signal(m.proc, 'SIGCONT');
      }
      await stopAll();
      if (process.env.HEIR_LAB_KEEP !== '1') fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

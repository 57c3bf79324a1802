/**
 * CPU and memory of `heir daemon` while it monitors 1, 100 and 1000 clusters at a 1 s
 * ping interval (the default ping_type, ping: COM_PING on a persistent connection;
 * HEIR_FOOTPRINT_PING=select measures SELECT 1 instead). Target (issue 14): 1000 clusters under 10% of one core
 * and 150 MB RSS. The daemon runs as deploy/heir.service runs it (its Environment= lines).
 *
 *   node dist/bench/daemon-footprint.js [seconds=60] [counts=1,100,1000,5000]
 *   env: HEIR_FOOTPRINT_PROFILE=<dir> (CPU profile), HEIR_FOOTPRINT_HEAP=<dir> (heap snapshot at the end)
 *
 * One small lab (MySQL 9.7: a master and one replica on loopback), started afresh for each
 * count, serves every cluster of that count: the N clusters all point at the same two servers, so what is measured is
 * heir's cost, not the servers'. Each cluster holds one persistent ping connection to the
 * master (ping and select modes), so the master's max_connections is raised to 3 N + 500 before the
 * run (`SET GLOBAL max_connections`; the default 151 would refuse the 152nd cluster and
 * the monitor would see "too many connections", an alive-error). Connect-mode pings would
 * need no persistent connections but cost a TCP + TLS handshake per ping: a persistent
 * connection is the realistic default and the heavier one for the servers, not for heir.
 *
 * failover.auto is false in the generated configuration: the clusters share servers, and
 * a failover of one would rearrange them all.
 *
 * For each N: the daemon is spawned (`node bin/heir.js daemon`), its start-up time to
 * "heir ready" is noted, it warms up for 10 s, then for `seconds` its CPU (utime + stime
 * from /proc/<pid>/stat) and RSS (VmRSS from /proc/<pid>/status, every second) are sampled.
 * Pings actually done are counted from /metrics (heir_ping_latency_seconds_count), so a
 * daemon that silently stopped pinging cannot look cheap. Prints one JSON object.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { freePort, startCluster } from '../test/lab';
import type { ClusterConfig } from '../src/config/schema';

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'heir.js');
const CLK_TCK = 100; // Linux USER_HZ on every supported architecture
const WARMUP_S = 10;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** utime and stime (fields 14, 15 of /proc/<pid>/stat), in clock ticks. */
function cpuTicks(pid: number): { user: number; system: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]), system: Number(f[12]) };
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function get(url: string): Promise<string> {
  const res = await fetch(url);
  return res.text();
}

function pingCount(metrics: string): number {
  let n = 0;
  for (const m of metrics.matchAll(/^heir_ping_latency_seconds_count\{[^}]*\} (\d+)/gm)) n += Number(m[1]);
  return n;
}

interface RunResult {
  clusters: number;
  startupMs: number;
  watching: number;
  sampledS: number;
  cpuPercentOfOneCore: number;
  cpuUserPercent: number;
  cpuSystemPercent: number;
  rssMbMean: number;
  rssMbMax: number;
  pingsPerSecond: number;
  /** V8 heap at the end (from /metrics): what of the RSS is JavaScript's. */
  heapTotalMb: number;
  heapUsedMb: number;
  exitCode: number | null;
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

async function runOnce(base: ClusterConfig, n: number, seconds: number): Promise<RunResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `heir-footprint-${n}-`));
  const port = await freePort();
  const clusters = Array.from({ length: n }, (_, i) => ({ ...base, name: `c${String(i + 1).padStart(4, '0')}` }));
  const cfg = { heir: { state_dir: path.join(dir, 'state'), log_level: 'warn', api: { listen: `127.0.0.1:${port}` } }, clusters };
  const configPath = path.join(dir, 'heir.yaml');
  fs.writeFileSync(configPath, stringify(cfg));
  const t0 = Date.now();
  // HEIR_FOOTPRINT_PROFILE=<dir>: the daemon writes a V8 CPU profile there (where the time goes).
  const prof = process.env.HEIR_FOOTPRINT_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.HEIR_FOOTPRINT_PROFILE] : [];
  // HEIR_FOOTPRINT_HEAP=<dir>: a V8 heap snapshot there at the end of the sampling (what the heap holds).
  const heapDir = process.env.HEIR_FOOTPRINT_HEAP;
  // HEIR_FOOTPRINT_NODE_ARGS="--flag …": extra Node/V8 options for the daemon (what a flag changes).
  if (process.env.HEIR_FOOTPRINT_NODE_ARGS) prof.push(...process.env.HEIR_FOOTPRINT_NODE_ARGS.split(/\s+/).filter(Boolean));
  if (heapDir) prof.push('--heapsnapshot-signal=SIGUSR2', '--diagnostic-dir', heapDir);
  const child = spawn(process.execPath, [...prof, BIN, 'daemon', '--config', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...unitEnvironment() },
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let log = '';
  child.stdout.on('data', (c: Buffer) => (log += c.toString('utf8').slice(0, 100_000)));
  child.stderr.on('data', (c: Buffer) => (log += c.toString('utf8').slice(0, 100_000)));
  try {
    // log_level warn: readiness is seen through /health instead of the info line.
    let health: { watching?: number; clusters?: number } = {};
    const readyWithinS = Math.max(300, Math.ceil(n * 0.12));
    const deadline = Date.now() + readyWithinS * 1000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`daemon exited early (${child.exitCode ?? child.signalCode}):\n${log.slice(-3000)}`);
      try {
        health = JSON.parse(await get(`http://127.0.0.1:${port}/health`)) as typeof health;
        if (health.clusters === n && health.watching === n) break;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) {
        throw Object.assign(new Error(`not ready within ${readyWithinS} s: ${health.clusters ?? 0} clusters loaded, ${health.watching ?? 0} watched`), { detail: log.slice(-3000) });
      }
      await sleep(200);
    }
    const startupMs = Date.now() - t0;
    await sleep(WARMUP_S * 1000);
    const pid = child.pid!;
    const ticks0 = cpuTicks(pid);
    const pings0 = pingCount(await get(`http://127.0.0.1:${port}/metrics`));
    const s0 = Date.now();
    const rss: number[] = [];
    while (Date.now() - s0 < seconds * 1000) {
      rss.push(rssMb(pid));
      await sleep(1000);
    }
    const ticks1 = cpuTicks(pid);
    const elapsedS = (Date.now() - s0) / 1000;
    const pct = (ticks: number) => round(((ticks / CLK_TCK) / elapsedS) * 100, 1);
    const metricsText = await get(`http://127.0.0.1:${port}/metrics`);
    const pings1 = pingCount(metricsText);
    const elapsedPingS = (Date.now() - s0) / 1000;
    const final = JSON.parse(await get(`http://127.0.0.1:${port}/health`)) as { watching: number };
    if (heapDir) {
      const before = new Set(fs.readdirSync(heapDir));
      child.kill('SIGUSR2');
      // Written synchronously by the daemon; wait until the file appears and stops growing.
      for (let last = -1; ; await sleep(2000)) {
        const f = fs.readdirSync(heapDir).find((x) => !before.has(x) && x.endsWith('.heapsnapshot'));
        const size = f ? fs.statSync(path.join(heapDir, f)).size : -1;
        if (size > 0 && size === last) break;
        last = size;
      }
    }
    child.kill('SIGTERM');
    const exitCode = await Promise.race([exited, sleep(60_000).then(() => -1)]);
    return {
      clusters: n,
      startupMs,
      watching: final.watching,
      sampledS: Math.round(elapsedS),
      cpuPercentOfOneCore: pct(ticks1.user + ticks1.system - ticks0.user - ticks0.system),
      // The kernel's share: on loopback it includes the receiving side of every packet heir
      // sends (TCP processing for mysqld, done in the sender's system call), which on a real
      // network is done on the database hosts.
      cpuUserPercent: pct(ticks1.user - ticks0.user),
      cpuSystemPercent: pct(ticks1.system - ticks0.system),
      rssMbMean: round(rss.reduce((a, b) => a + b, 0) / rss.length, 1),
      rssMbMax: round(Math.max(...rss), 1),
      pingsPerSecond: round((pings1 - pings0) / elapsedPingS, 1),
      heapTotalMb: round(metric(metricsText, 'nodejs_heap_size_total_bytes') / 1048576, 1),
      heapUsedMb: round(metric(metricsText, 'nodejs_heap_size_used_bytes') / 1048576, 1),
      exitCode,
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The environment deploy/heir.service gives the daemon (its Environment= lines: NODE_OPTIONS,
 * MALLOC_ARENA_MAX, ...), each unless the caller's environment sets it.
 */
function unitEnvironment(): Record<string, string> {
  const unit = fs.readFileSync(path.join(ROOT, 'deploy', 'heir.service'), 'utf8');
  const env: Record<string, string> = {};
  for (const m of unit.matchAll(/^Environment=([A-Z_]+)=(.*)$/gm)) {
    if (process.env[m[1]!] === undefined) env[m[1]!] = m[2]!.trim();
  }
  return env;
}

function round(x: number, d: number): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

const pingType = (process.env.HEIR_FOOTPRINT_PING ?? 'ping') as ClusterConfig['detection']['ping_type'];

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 60);
  const counts = (process.argv[3] ?? '1,100,1000,5000').split(',').map(Number);
  const results: RunResult[] = [];
  let version = '';
  let servers = 0;
  // Each count on servers of its own, started for it: what one count's start-up storm left
  // behind in the shared servers (thread and host caches, a full accept queue) must not
  // weigh on the next count.
  for (const n of counts) {
    process.stderr.write(`daemon-footprint: ${n} cluster(s), ${seconds} s…\n`);
    const lab = await startCluster({ flavor: 'mysql', nodes: 2, name: `footprint-${n}` });
    try {
      version = lab.version;
      servers = lab.nodes.length;
      // Three per cluster: the ping, the status refresh and a corroborating probe can be open at once
      // while the start-up handshakes of a thousand clusters make the one shared server slow.
      for (const node of lab.nodes) await lab.sql(node, `SET GLOBAL max_connections = ${maxConnections(n)}`);
      const base = lab.clusterConfig({
        detection: { interval_ms: 1000, ping_type: pingType, ssh_check: false } as ClusterConfig['detection'],
        failover: { auto: false, salvage: { enabled: false } } as ClusterConfig['failover'],
      });
      // HEIR_FOOTPRINT_TLS=disabled: what TLS costs (the default, preferred, uses it when the server offers it).
      if (process.env.HEIR_FOOTPRINT_TLS) base.mysql = { ...base.mysql, tls: { ...base.mysql.tls, mode: process.env.HEIR_FOOTPRINT_TLS as ClusterConfig['mysql']['tls']['mode'] } };
      results.push(await runOnce(base, n, seconds));
      process.stderr.write(`  ${JSON.stringify(results.at(-1))}\n`);
    } catch (e) {
      // One count failing (e.g. not ready in time) is a result too; the others stand.
      process.stderr.write(`  ${n} clusters failed: ${(e as Error).message}\n${(e as { detail?: string }).detail ?? ''}\n`);
      results.push({ clusters: n, error: (e as Error).message } as unknown as RunResult);
    } finally {
      await lab.teardown();
    }
  }
  const big = results.find((r) => r.clusters === 1000);
  console.log(
    JSON.stringify(
      {
        bench: 'daemon-footprint',
        at: new Date().toISOString(),
        node: process.version,
        cpu: os.cpus()[0]?.model ?? 'unknown',
        cores: os.cpus().length,
        mysql: version,
        servers: `${servers} (master + replica on loopback), shared by every cluster of a count, started afresh for each count`,
        interval_ms: 1000,
        ping_type: pingType,
        max_connections: Object.fromEntries(counts.map((n) => [n, maxConnections(n)])),
        warmup_s: WARMUP_S,
        results,
        tls: process.env.HEIR_FOOTPRINT_TLS ?? 'preferred (the default: TLS, the server offers it)',
        environment: unitEnvironment(),
        nodeArgs: process.env.HEIR_FOOTPRINT_NODE_ARGS ?? '',
        target: { clusters: 1000, cpuPercentOfOneCore: 10, rssMb: 150 },
        ...(big ? { meetsTarget: big.cpuPercentOfOneCore <= 10 && big.rssMbMax <= 150 && big.watching === 1000 } : {}),
      },
      null,
      2,
    ),
  );
}

function maxConnections(clusters: number): number {
  return 3 * clusters + 500;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});

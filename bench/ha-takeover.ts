/**
 * Leader takeover under heir.ha: kill -9 of the daemon that leads a cluster → the other daemon leads it.
 *
 *   node dist/bench/ha-takeover.js
 *   env: HEIR_BENCH_RUNS (takeovers, default 10)
 *
 * Three etcd members on loopback (test/lab/etcd.ts), a MySQL cluster of three servers on loopback
 * at stock settings, two heir daemons (`heir daemon`, child processes) with heir.ha at its defaults
 * (lease_ttl_s, request_timeout_ms) and the cluster's detection defaults. Each run finds the leader
 * in etcd, waits a random 1 s to 1 s + lease/3 (so the kill falls at any point between two lease
 * renewals), kill -9s it, and measures from the kill:
 *   - until etcd deletes the leadership key (the killed leader's lease expired), seen by a watch;
 *   - until the other daemon's leadership key appears in etcd, seen by the same watch (the takeover);
 *   - until the time of the other daemon's own log line "<id> leads cluster <name>".
 * The killed daemon is then started again (same manager id and state directory) and waits as a
 * follower; the next run kills the new leader. Only the processes started here are stopped, by pid,
 * also on failure.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Watcher } from 'etcd3';
import { startCluster, type LabCluster } from '../test/lab';
import { describeSettings } from '../test/lab/server';
import { startEtcdLab, type EtcdLab } from '../test/lab/etcd';
import { killHaManagers, startHaManager, type HaManager } from '../test/support/ha-daemon';
import { HaSettings } from '../src/config/schema';
import { connectEtcd, type EtcdHandle } from '../src/ha/etcd';
import { haKeys } from '../src/ha/leadership';
import { emit, envInt, progress, runMain, sleep, stats, waitUntil } from './lib';

const B = 'ha-takeover';
const PREFIX = '/heir-bench-takeover/';
const CLUSTER = 'takeover';

interface Run {
  run: number;
  killed: string;
  newLeader: string;
  /** Random wait between the leader being seen settled and the kill. */
  waitBeforeKillMs: number;
  killToKeyDeletedMs: number | null;
  killToNewKeyMs: number;
  keyDeletedToNewKeyMs: number | null;
  killToLogMs: number;
}

async function main(): Promise<void> {
  const runs = envInt('HEIR_BENCH_RUNS', 10);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-bench-takeover-'));
  const started: HaManager[] = [];
  let etcd: EtcdLab | undefined;
  let lab: LabCluster | undefined;
  let probe: EtcdHandle | undefined;
  let watcher: Watcher | undefined;
  try {
    progress(B, 'starting 3 etcd members and 3 MySQL servers (stock settings)');
    [etcd, lab] = await Promise.all([startEtcdLab(), startCluster({ flavor: 'mysql', name: CLUSTER })]);
    const ha = HaSettings.parse({ etcd: { endpoints: etcd.endpoints }, manager_id: 'defaults' });
    const ttlMs = ha.lease_ttl_s * 1000;
    const targetMs = ttlMs + 1000;
    const cluster = lab.clusterConfig();
    probe = connectEtcd({ endpoints: etcd.endpoints, request_timeout_ms: 3000 });
    const leaderKey = haKeys(PREFIX).leader(CLUSTER);
    const live = new Map<string, HaManager>();

    const linesSince = (m: HaManager, t: number) => m.log().filter((l) => Date.parse(l.time ?? '') >= t);
    const start = async (id: string): Promise<HaManager> => {
      const m = await startHaManager({ dir, id, cluster, endpoints: etcd!.endpoints, prefix: PREFIX, requestTimeoutMs: null });
      started.push(m);
      live.set(id, m);
      await waitUntil(`${id} ready`, () => {
        if (m.child.exitCode !== null) throw new Error(`${id} exited ${m.child.exitCode}: ${m.out.trim().split('\n').slice(-3).join(' | ')}`);
        return m.log().some((l) => /^heir ready/.test(l.msg ?? ''));
      }, 60_000);
      return m;
    };
    const leaderNow = async (): Promise<string | undefined> => {
      const v = await probe!.client.get(leaderKey).string();
      return v === null ? undefined : (JSON.parse(v) as { manager: string }).manager;
    };

    progress(B, `starting 2 daemons (heir.ha defaults: lease_ttl_s ${ha.lease_ttl_s}, request_timeout_ms ${ha.etcd.request_timeout_ms})`);
    await Promise.all([start('mgr-a'), start('mgr-b')]);

    const results: Run[] = [];
    for (let i = 1; i <= runs; i++) {
      let leaderId: string | undefined;
      await waitUntil('a leader of the cluster in etcd', async () => (leaderId = await leaderNow()) !== undefined, 30_000);
      const leader = live.get(leaderId!);
      if (!leader) throw new Error(`etcd names ${leaderId} as the leader, which is not one of this benchmark's daemons`);
      const other = [...live.values()].find((m) => m !== leader)!;
      // The other daemon knows who leads (it campaigned and found the key taken): it is a follower.
      await waitUntil(`${other.id} following ${leader.id}`, () => other.log().some((l) => l.msg === `cluster ${CLUSTER} is led by ${leader.id}`), 30_000);
      const waitBeforeKillMs = Math.round(1000 + Math.random() * (ttlMs / 3));
      await sleep(waitBeforeKillMs);
      if ((await leaderNow()) !== leader.id) throw new Error(`run ${i}: the leadership moved before the kill`);

      let deletedAt: number | undefined;
      let newKeyAt: number | undefined;
      let newKeyBy = '';
      watcher = await probe.client.watch().key(leaderKey).create();
      watcher.on('delete', () => (deletedAt ??= Date.now()));
      watcher.on('put', (kv) => {
        if (newKeyAt !== undefined) return;
        newKeyAt = Date.now();
        newKeyBy = (JSON.parse(kv.value.toString()) as { manager: string }).manager;
      });
      const killedAt = Date.now();
      leader.child.kill('SIGKILL');
      await leader.exited;
      live.delete(leader.id);
      await waitUntil(`run ${i}: a new leadership key after the kill of ${leader.id}`, () => newKeyAt !== undefined, 60_000, 5);
      if (newKeyBy !== other.id) throw new Error(`run ${i}: the leadership key after the kill names ${newKeyBy}, not ${other.id}`);
      const leads = () => linesSince(other, killedAt).find((l) => (l.msg ?? '').startsWith(`${other.id} leads cluster ${CLUSTER}`));
      await waitUntil(`run ${i}: ${other.id} logging that it leads`, () => leads() !== undefined, 30_000);
      const line = leads()!;
      await watcher.cancel();
      watcher = undefined;
      const r: Run = {
        run: i,
        killed: leader.id,
        newLeader: other.id,
        waitBeforeKillMs,
        killToKeyDeletedMs: deletedAt !== undefined ? deletedAt - killedAt : null,
        killToNewKeyMs: newKeyAt! - killedAt,
        keyDeletedToNewKeyMs: deletedAt !== undefined ? newKeyAt! - deletedAt : null,
        killToLogMs: Date.parse(line.time) - killedAt,
      };
      results.push(r);
      progress(B, `run ${i}/${runs}: kill -9 ${r.killed} → key expired ${r.killToKeyDeletedMs} ms → ${r.newLeader}'s key ${r.killToNewKeyMs} ms (its log: ${r.killToLogMs} ms)`);
      // The killed daemon comes back as a follower (as Restart=always would bring it).
      await start(leader.id);
    }

    const figures = {
      killToNewKeyMs: stats(results.map((r) => r.killToNewKeyMs)),
      killToLogMs: stats(results.map((r) => r.killToLogMs)),
      killToKeyDeletedMs: stats(results.flatMap((r) => (r.killToKeyDeletedMs === null ? [] : [r.killToKeyDeletedMs]))),
      keyDeletedToNewKeyMs: stats(results.flatMap((r) => (r.keyDeletedToNewKeyMs === null ? [] : [r.keyDeletedToNewKeyMs]))),
    };
    emit({
      bench: B,
      runs,
      leaseTtlS: ha.lease_ttl_s,
      requestTimeoutMs: ha.etcd.request_timeout_ms,
      targetMs,
      etcdMembers: etcd.members.length,
      managers: 2,
      flavor: lab.flavor,
      version: lab.version,
      servers: describeSettings(lab.flavor, {}),
      ...figures,
      results,
    });
  } finally {
    await watcher?.cancel().catch(() => undefined);
    await killHaManagers(started);
    probe?.close();
    await lab?.teardown().catch(() => undefined);
    await etcd?.stop().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runMain(B, main);

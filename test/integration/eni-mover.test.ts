/**
 * The ENI mover with the real SDK against the ECS emulator: a move end to end,
 * idempotent re-runs, retries within bounds, a rejected key, a stuck detach
 * (force-stop when stonith is on, a clear report when off), preflight, and the
 * MySQL check through the floating address against a real lab cluster.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterConfig, GlobalSettings } from '../../src/config/schema';
import { createMover, eniStatus, move, type MoveContext } from '../../src/eni';
import { startEcsEmulator, type EcsEmulator } from '../ecs-emulator/server';
import { cloudFor, labRegion, useCredentials } from '../ecs-emulator/fixture';
import { startCluster, type LabCluster } from '../lab';

let emu: EcsEmulator;
let restore: () => void = () => {};
let lab: LabCluster | undefined;

before(async () => {
  emu = await startEcsEmulator({ state: labRegion({ eniOn: 'i-db1' }) });
});
after(async () => {
  restore();
  await emu.close();
  await lab?.teardown();
});

function cluster(over: { address?: Record<string, unknown>; stonith?: boolean; instances?: string[] } = {}): ClusterConfig {
  const ids = over.instances ?? ['i-db1', 'i-db2', 'i-db3'];
  return ClusterConfig.parse({
    name: 'c1',
    mysql: { user: 'heir', password: 'pw', replication_user: 'repl', replication_password: 'pw' },
    nodes: ids.map((id, n) => ({ name: `db${n + 1}`, host: '127.0.0.1', port: 3306 + n, instance_id: id })),
    failover: { stonith: over.stonith ?? false },
    address: { type: 'eni', eni_id: 'eni-floating', floating_ip: '10.77.0.100', verify: false, ...(over.address ?? {}) },
  });
}

function global(over: Record<string, unknown> = {}): GlobalSettings {
  return GlobalSettings.parse({ cloud: cloudFor(emu, over) });
}

function ctx(c: ClusterConfig, from: string | undefined, to: string | undefined): MoveContext {
  const x: MoveContext = { cluster: c, reason: 'failover' };
  const f = c.nodes.find((n) => n.name === from);
  const t = c.nodes.find((n) => n.name === to);
  if (f) x.oldMaster = f;
  if (t) x.newMaster = t;
  return x;
}

function reset(on: string | undefined): void {
  emu.clearFaults();
  emu.control({ op: 'setEni', eni: { id: 'eni-floating', status: on ? 'InUse' : 'Available', instanceId: on } });
  for (const id of ['i-db1', 'i-db2', 'i-db3']) emu.control({ op: 'setInstance', instance: { id, status: 'Running', hungOs: false } });
}

const fast = { pollMs: 100, redetachAfterMs: 700, stuckAfterMs: 1500, backoff: { baseMs: 50, capMs: 400 } };

test('move end to end: fence from db1, attach to db2 (credentials from the URI provider)', async () => {
  restore = useCredentials(emu, 'uri');
  reset('i-db1');
  const c = cluster();
  const m = createMover(c, global(), { tuning: fast });
  const f = await m.fence(ctx(c, 'db1', 'db2'));
  assert.equal(f.ok, true, f.detail);
  assert.equal(f.action, 'detached');
  assert.match(f.detail, /eni-floating/);
  assert.match(f.detail, /i-db1 \(db1\)/);
  assert.match(f.detail, /RequestId [0-9A-F-]{36}/);
  assert.ok(f.apiCalls.some((a) => a.action === 'DetachNetworkInterface' && a.requestId));
  assert.equal(emu.state.enis.get('eni-floating')!.status, 'Available');
  const a = await m.attach(ctx(c, 'db1', 'db2'));
  assert.equal(a.ok, true, a.detail);
  assert.equal(a.action, 'attached');
  assert.match(a.detail, /i-db2 \(db2\)/);
  assert.equal(emu.state.enis.get('eni-floating')!.status, 'InUse');
  assert.equal(emu.state.enis.get('eni-floating')!.instanceId, 'i-db2');
  const s = await eniStatus(c, global());
  assert.equal(s.holder, 'db2');
  assert.equal(s.state, 'InUse');
  assert.equal(s.settled, true);
});

test('the credential chain is walked once per process; the STS token is refreshed by the credentials library', async () => {
  // STS credentials that reach the library's refresh window (15 min before expiry) 3 s after they are served.
  const sts = await startEcsEmulator({ state: labRegion({ eniOn: 'i-db1' }), stsDurationS: 15 * 60 + 3 });
  try {
    restore = useCredentials(sts, 'uri');
    const c = cluster();
    const g = GlobalSettings.parse({ cloud: cloudFor(sts) });
    const m = createMover(c, g, { tuning: fast });
    assert.equal((await m.fence(ctx(c, 'db1', 'db2'))).ok, true);
    assert.equal((await m.attach(ctx(c, 'db1', 'db2'))).ok, true);
    assert.equal((await createMover(c, g, { tuning: fast }).status({ cluster: c, reason: 'manual' })).holder, 'db2');
    assert.equal(sts.credentialFetches, 1, 'one fence, one attach and a status by two movers fetch the credentials once');
    const firstKey = sts.requests.at(-1)!.accessKeyId;
    await new Promise((r) => setTimeout(r, 3500));
    assert.equal((await m.status({ cluster: c, reason: 'manual' })).holder, 'db2');
    assert.equal(sts.credentialFetches, 2, 'the token near its expiry was refreshed');
    assert.notEqual(sts.requests.at(-1)!.accessKeyId, firstKey);
  } finally {
    await sts.close();
  }
});

test('idempotent: running fence and attach again changes nothing and succeeds', async () => {
  restore = useCredentials(emu, 'env');
  const c = cluster();
  const m = createMover(c, global(), { tuning: fast });
  const before = emu.requests.length;
  const f = await m.fence(ctx(c, 'db1', 'db2'));
  assert.equal(f.ok, true, f.detail);
  assert.equal(f.action, 'not-on-old');
  const a = await m.attach(ctx(c, 'db1', 'db2'));
  assert.equal(a.ok, true, a.detail);
  assert.equal(a.action, 'already-attached');
  const mutations = emu.requests.slice(before).filter((r) => r.action !== 'DescribeNetworkInterfaces');
  assert.deepEqual(mutations, []);
});

test('attach converges from anywhere: the ENI on db2 moves to db3 (detach first)', async () => {
  restore = useCredentials(emu, 'env');
  const c = cluster();
  const r = await move(c, global(), { to: 'db3', tuning: fast });
  assert.equal(r.ok, true, `${r.fence.detail} / ${r.attach?.detail}`);
  assert.equal(r.from, 'db2');
  assert.equal(emu.state.enis.get('eni-floating')!.instanceId, 'i-db3');
});

test('a Describe lagging 1 s behind the changes: two moves back to back conclude nothing from a stale answer', async () => {
  restore = useCredentials(emu, 'env');
  reset('i-db1');
  const c = cluster();
  const m = createMover(c, global({ describe_lag_ms: 1200 }), { tuning: fast });
  await new Promise((r) => setTimeout(r, 1100)); // the set-up above is older than the lag
  emu.control({ op: 'lag', ms: 1000 });
  try {
    const f1 = await m.fence(ctx(c, 'db1', 'db2'));
    assert.equal(f1.action, 'detached', f1.detail);
    const a1 = await m.attach(ctx(c, 'db1', 'db2'));
    assert.equal(a1.action, 'attached', a1.detail);
    // straight back: a stale Describe would show the ENI Attaching to db2, or Available, or still on db1
    const f2 = await m.fence(ctx(c, 'db2', 'db1'));
    assert.equal(f2.action, 'detached', f2.detail);
    assert.match(f2.detail, /from i-db2 \(db2\)/);
    const a2 = await m.attach(ctx(c, 'db2', 'db1'));
    assert.equal(a2.action, 'attached', a2.detail);
    assert.equal(emu.state.enis.get('eni-floating')!.instanceId, 'i-db1');
    assert.equal(emu.state.enis.get('eni-floating')!.status, 'InUse');
    // no mutation was repeated because of a stale answer
    const all = [...f1.apiCalls, ...a1.apiCalls, ...f2.apiCalls, ...a2.apiCalls];
    assert.equal(all.filter((x) => x.action === 'DetachNetworkInterface').length, 2);
    assert.equal(all.filter((x) => x.action === 'AttachNetworkInterface').length, 2);
  } finally {
    emu.clearFaults();
  }
});

test('a Describe lagging 1 s: an attach given the fence still settling asks the API itself, and its request is accepted before any Describe shows the ENI Available', async () => {
  restore = useCredentials(emu, 'env');
  reset('i-db1');
  const c = cluster();
  const m = createMover(c, global({ describe_lag_ms: 1000 }), { tuning: fast });
  assert.equal(m.attachesWhileFencing, true);
  assert.notEqual(createMover(c, global(), { tuning: fast }).attachesWhileFencing, true, 'without a Describe lag the attach waits for the fence');
  await new Promise((r) => setTimeout(r, 1100)); // the set-up above is older than the lag
  emu.control({ op: 'lag', ms: 1000 });
  const seq0 = emu.requests.at(-1)?.seq ?? 0;
  try {
    let fenceEndedAt = 0;
    const fencing = m.fence(ctx(c, 'db1', 'db2')).then((o) => ((fenceEndedAt = Date.now()), o));
    await new Promise((r) => setTimeout(r, 50)); // the detach request is out
    const a = await m.attach({ ...ctx(c, 'db1', 'db2'), fencing });
    const f = await fencing;
    assert.equal(f.ok, true, f.detail);
    assert.equal(a.action, 'attached', a.detail);
    assert.equal(emu.state.enis.get('eni-floating')!.instanceId, 'i-db2');
    assert.equal(emu.state.enis.get('eni-floating')!.status, 'InUse');
    const attaches = emu.requests.filter((q) => q.seq > seq0 && q.action === 'AttachNetworkInterface');
    const accepted = attaches.filter((q) => q.status === 200);
    assert.equal(accepted.length, 1, JSON.stringify(attaches.map((q) => [q.status, q.code])));
    // Refused while Detaching, with the documented code; accepted only once Available.
    assert.ok(attaches.length > 1 && attaches.slice(0, -1).every((q) => q.status === 400 && q.code === 'InvalidOperation.InvalidEniState'), JSON.stringify(attaches.map((q) => [q.status, q.code])));
    // The ENI's last Available before the accepted request: this fence's (the emulator accepts an attach of an Available ENI only).
    const available = emu.state.events.filter((e) => e.what.startsWith('eni-floating Available') && e.at >= attaches[0]!.at && e.at <= accepted[0]!.at + 50).at(-1);
    assert.ok(available, JSON.stringify(emu.state.events.slice(-5)));
    // No Describe could have shown it Available yet: it answers from 1 s before.
    assert.ok(accepted[0]!.at < available.at + 1000, `the attach request came ${accepted[0]!.at - available.at} ms after the ENI became Available, inside the Describe's lag`);
    assert.ok(fenceEndedAt > 0 && accepted[0]!.at <= fenceEndedAt, 'the attach did not wait for the fence to end');
    assert.equal(emu.requests.filter((q) => q.seq > seq0 && q.action === 'DetachNetworkInterface').length, 1, 'no repeated detach');
  } finally {
    emu.clearFaults();
  }
});

test('throttling and 5xx are retried within the time budget', async () => {
  restore = useCredentials(emu, 'env');
  reset('i-db1');
  const c = cluster();
  const m = createMover(c, global(), { tuning: fast });
  emu.inject({ kind: 'throttle', count: 3, actions: ['DescribeNetworkInterfaces'] });
  emu.inject({ kind: 'error', count: 2, actions: ['DetachNetworkInterface'] });
  emu.inject({ kind: 'error', code: 'InternalError', count: 1, actions: ['AttachNetworkInterface'] });
  const f = await m.fence(ctx(c, 'db1', 'db2'));
  assert.equal(f.ok, true, f.detail);
  assert.equal(f.apiCalls.filter((x) => x.code === 'Throttling.User').length, 3);
  assert.equal(f.apiCalls.filter((x) => x.code === 'ServiceUnavailable').length, 2);
  const a = await m.attach(ctx(c, 'db1', 'db2'));
  assert.equal(a.ok, true, a.detail);
  assert.equal(a.apiCalls.filter((x) => x.code === 'InternalError').length, 1);
  assert.equal(emu.state.enis.get('eni-floating')!.instanceId, 'i-db2');
});

test('Throttling.User with x-acs-retry-after: the next try waits as long as the endpoint asked', async () => {
  restore = useCredentials(emu, 'env');
  reset('i-db1');
  const c = cluster();
  const m = createMover(c, global(), { tuning: fast });
  emu.control({ op: 'clearRequests' });
  emu.inject({ kind: 'throttle', count: 1, actions: ['DescribeNetworkInterfaces'], retryAfterMs: 1500 });
  const s = await m.status({ cluster: c, reason: 'manual' });
  assert.equal(s.holder, 'db1', s.detail);
  const calls = emu.requests.filter((r) => r.action === 'DescribeNetworkInterfaces');
  assert.equal(calls[0]!.code, 'Throttling.User');
  const gap = calls[1]!.at - calls[0]!.at;
  assert.ok(gap >= 1500, `retried after ${gap} ms, the endpoint asked for 1500 ms`);
});

test('endless throttling ends at operation_timeout_s with the code and RequestId', async () => {
  restore = useCredentials(emu, 'env');
  reset('i-db1');
  const c = cluster();
  const m = createMover(c, global({ operation_timeout_s: 2, read_timeout_ms: 1000 }), { tuning: fast });
  emu.inject({ kind: 'throttle', count: 10000 });
  const f = await m.fence(ctx(c, 'db1', 'db2'));
  emu.clearFaults();
  assert.equal(f.ok, false);
  assert.equal(f.code, 'Throttling.User');
  assert.match(f.detail, /RequestId [0-9A-F-]{36}/);
  // bounded: the budget plus at most one call's read timeout
  assert.ok(f.durationMs <= 2000 + 1000 + 500, `took ${f.durationMs} ms`);
  assert.equal(emu.state.enis.get('eni-floating')!.instanceId, 'i-db1');
});

test('a rejected AccessKey fails at once with a clear error (no retries)', async () => {
  restore = useCredentials(emu, 'env', { id: emu.keys[0]!.id, secret: 'wrong-secret' });
  reset('i-db1');
  const c = cluster();
  const f = await createMover(c, global(), { tuning: fast }).fence(ctx(c, 'db1', 'db2'));
  assert.equal(f.ok, false);
  assert.equal(f.code, 'SignatureDoesNotMatch');
  assert.equal(f.apiCalls.length, 1);
  assert.match(f.detail, /DescribeNetworkInterfaces failed: HTTP 400 SignatureDoesNotMatch, RequestId [0-9A-F-]{36}/);
  assert.match(f.detail, /credentials/);
});

test('stuck Detaching (hung OS) with stonith: force-stop, then the detach completes', async () => {
  restore = useCredentials(emu, 'env');
  reset('i-db1');
  emu.control({ op: 'hungOs', instanceId: 'i-db1', on: true });
  const c = cluster({ stonith: true });
  const f = await createMover(c, global(), { tuning: fast }).fence(ctx(c, 'db1', undefined));
  assert.equal(f.ok, true, f.detail);
  assert.equal(f.action, 'force-stopped+detached');
  assert.match(f.detail, /force-stopped i-db1 \(db1\)/);
  // standard mode: an economical-mode stop would release the instance's resources and it might not start again
  const stop = emu.requests.filter((r) => r.action === 'StopInstance').at(-1)!;
  assert.equal(stop.params.ForceStop, 'true');
  assert.equal(stop.params.StoppedMode, 'KeepCharging');
  assert.ok(f.apiCalls.filter((x) => x.action === 'DetachNetworkInterface').length >= 2, 'detach was re-issued');
  assert.ok(f.apiCalls.some((x) => x.action === 'StopInstance'));
  assert.equal(emu.state.instances.get('i-db1')!.status, 'Stopped');
  assert.equal(emu.state.enis.get('eni-floating')!.status, 'Available');
});

test('stuck Detaching with stonith, and the forced stop itself takes 5 s: the fence waits it out', async () => {
  restore = useCredentials(emu, 'env');
  reset('i-db1');
  emu.control({ op: 'hungOs', instanceId: 'i-db1', on: true });
  const saved = { ...emu.state.delays };
  emu.control({ op: 'delays', delays: { forceStopMs: 5000 } });
  try {
    const c = cluster({ stonith: true });
    const f = await createMover(c, global(), { tuning: fast }).fence(ctx(c, 'db1', undefined));
    assert.equal(f.ok, true, f.detail);
    assert.equal(f.action, 'force-stopped+detached');
    assert.ok(f.durationMs >= 5000, `done after ${f.durationMs} ms, before the instance could have stopped`);
    assert.equal(f.apiCalls.filter((x) => x.action === 'StopInstance').length, 1, 'one forced stop, not one per poll');
    assert.equal(emu.state.enis.get('eni-floating')!.status, 'Available');
  } finally {
    emu.control({ op: 'delays', delays: saved });
  }
});

test('stuck Detaching without stonith: reported clearly, instance left alone', async () => {
  restore = useCredentials(emu, 'env');
  reset('i-db1');
  emu.control({ op: 'hungOs', instanceId: 'i-db1', on: true });
  const c = cluster({ stonith: false });
  const f = await createMover(c, global(), { tuning: fast }).fence(ctx(c, 'db1', undefined));
  assert.equal(f.ok, false);
  assert.equal(f.code, 'StuckDetaching');
  assert.match(f.detail, /eni-floating has been Detaching from i-db1 \(db1\)/);
  assert.match(f.detail, /failover\.stonith/);
  assert.ok(!f.apiCalls.some((x) => x.action === 'StopInstance'));
  assert.equal(emu.state.instances.get('i-db1')!.status, 'Running');
  assert.equal(emu.state.enis.get('eni-floating')!.status, 'Detaching');
});

test('preflight: all good; a wrong ENI id; a zone mismatch', async () => {
  restore = useCredentials(emu, 'env');
  reset('i-db1');
  const ok = await createMover(cluster(), global()).preflight(cluster());
  assert.deepEqual(ok.filter((r) => !r.ok), [], JSON.stringify(ok, null, 1));
  assert.ok(ok.some((r) => r.check === 'eni-secondary' && r.ok));
  assert.ok(ok.some((r) => r.check === 'zone:db3' && r.ok));

  const wrong = cluster({ address: { eni_id: 'eni-typo' } });
  const r1 = await createMover(wrong, global()).preflight(wrong);
  const e1 = r1.find((r) => r.check === 'eni-exists');
  assert.equal(e1?.ok, false);
  assert.match(e1!.detail, /eni-typo does not exist/);

  const zone = cluster({ instances: ['i-db1', 'i-db2', 'i-otherzone'] });
  const r2 = await createMover(zone, global()).preflight(zone);
  const z = r2.find((r) => r.check === 'zone:db3');
  assert.equal(z?.ok, false);
  assert.match(z!.detail, /cn-hangzhou-k/);
  assert.ok(r2.find((r) => r.check === 'zone:db1')?.ok);

  const ghost = cluster({ instances: ['i-db1', 'i-db2', 'i-gone'] });
  const r3 = await createMover(ghost, global()).preflight(ghost);
  assert.equal(r3.find((r) => r.check === 'instance:db3')?.ok, false);
  // preflight never mutates
  assert.equal(emu.state.enis.get('eni-floating')!.instanceId, 'i-db1');
});

test('preflight tries what a failover will call: StopInstance with DryRun, and names a permission the RAM policy lacks', async () => {
  restore = useCredentials(emu, 'env');
  reset('i-db1');
  const c = cluster({ stonith: true });
  const m = createMover(c, global(), { tuning: fast });
  const ok = await m.preflight(c);
  assert.deepEqual(ok.filter((r) => !r.ok), [], JSON.stringify(ok));
  const dry = ok.find((r) => r.check === 'permission:ecs:StopInstance:db1')!;
  assert.match(dry.detail, /would be accepted \(DryRun: DryRunOperation/);
  const sent = emu.requests.filter((r) => r.action === 'StopInstance').at(-1)!;
  assert.equal(sent.params.DryRun, 'true');
  assert.equal(sent.code, 'DryRunOperation');
  assert.equal(emu.state.instances.get('i-db1')!.status, 'Running', 'a dry run stops nothing');
  assert.ok(ok.some((r) => r.check === 'permission:attach-detach' && r.severity === 'warning' && /no DryRun/.test(r.detail)));
  // a credential whose RAM policy lacks ecs:StopInstance
  emu.control({ op: 'deny', actions: ['StopInstance'], accessKeyId: emu.keys[0]!.id });
  try {
    const bad = await m.preflight(c);
    const f = bad.find((r) => r.check === 'permission:ecs:StopInstance:db1')!;
    assert.equal(f.ok, false);
    assert.equal(f.severity, 'error');
    assert.match(f.detail, /Forbidden\.SubUser/);
    assert.match(f.detail, /does not grant ecs:StopInstance/);
    assert.equal(bad.find((r) => r.check === 'permission:ecs:DescribeInstanceStatus')!.ok, true);
  } finally {
    emu.clearFaults();
  }
});

test('eni without heir.cloud: every call reports the missing settings', async () => {
  const c = cluster();
  const m = createMover(c, GlobalSettings.parse({}));
  const f = await m.fence(ctx(c, 'db1', 'db2'));
  assert.equal(f.ok, false);
  assert.equal(f.code, 'NoCloudSettings');
  assert.match(f.detail, /heir\.cloud/);
});

test('verify through MySQL: the address must reach the new master (real lab servers)', async () => {
  restore = useCredentials(emu, 'env');
  reset(undefined);
  lab = await startCluster({ flavor: 'mysql', nodes: 2 });
  const base = lab.clusterConfig();
  const withIds = (floating: string): ClusterConfig =>
    ClusterConfig.parse({
      ...base,
      nodes: base.nodes.map((n, i) => ({ ...n, instance_id: `i-db${i + 1}` })),
      address: { type: 'eni', eni_id: 'eni-floating', floating_ip: floating, verify: true },
    });
  // On loopback every server listens on 127.0.0.1 at its own port: that address reaches db2.
  const good = withIds('127.0.0.1');
  const a = await createMover(good, global(), { tuning: fast }).attach(ctx(good, undefined, 'db2'));
  assert.equal(a.ok, true, a.detail);
  assert.match(a.detail, /verified: 127\.0\.0\.1:\d+ reaches db2 \(server_id \d+, server_uuid [0-9a-f-]+/);
  // An address where nothing answers: the ENI is attached but the move is not verified.
  const bad = withIds('127.0.0.77');
  const b = await createMover(bad, global({ operation_timeout_s: 3 }), { tuning: fast }).attach(ctx(bad, undefined, 'db2'));
  assert.equal(b.ok, false);
  assert.equal(b.code, 'VerifyFailed');
  assert.match(b.detail, /127\.0\.0\.77:\d+ does not answer/);
});

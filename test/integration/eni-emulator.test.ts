/**
 * The ECS API emulator, driven by the real SDK (through src/eni's adapter):
 * signature checks, credentials through the default chain, status transitions,
 * error codes and bodies, fault injection.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { EcsApi, EcsApiError } from '../../src/eni/ecs-api';
import { startEcsEmulator, type EcsEmulator } from '../ecs-emulator/server';
import { cloudFor, labRegion, useCredentials } from '../ecs-emulator/fixture';

let emu: EcsEmulator;
let restore: () => void = () => {};

// The tests below read the intermediate states (Detaching, Attaching, Stopping) with one API call
// right after the request that starts them. labRegion's 300 ms transitions are shorter than such a
// call can take on a loaded 2-core CI machine, so this file uses transitions long enough to observe.
const SLOW_ENOUGH = { attachMs: 1500, detachMs: 1500, stopMs: 1500, forceStopMs: 1500, startMs: 1500 };
const SETTLE_MS = 15_000; // bound on waiting for a transition to finish

before(async () => {
  emu = await startEcsEmulator({ state: { ...labRegion({ eniOn: 'i-db1' }), delays: SLOW_ENOUGH }, keys: [{ id: 'LTAIgood', secret: 'good-secret' }, { id: 'LTAIother', secret: 'other-secret' }] });
});
after(async () => {
  restore();
  await emu.close();
});

function api(over: Record<string, unknown> = {}): EcsApi {
  return new EcsApi(cloudFor(emu, over) as ConstructorParameters<typeof EcsApi>[0]);
}

async function rejects(p: Promise<unknown>): Promise<EcsApiError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof EcsApiError, `expected EcsApiError, got ${String(err)}`);
    return err;
  }
  assert.fail('the call succeeded but should have failed');
}

test('AccessKey from the environment, HTTPS verified against the emulator CA', async () => {
  restore = useCredentials(emu, 'env');
  const r = await api().describeEni('eni-floating');
  assert.equal(r.eni?.status, 'InUse');
  assert.equal(r.eni?.instanceId, 'i-db1');
  assert.match(r.requestId ?? '', /^[0-9A-F-]{36}$/);
  const last = emu.requests.at(-1)!;
  assert.equal(last.auth, 'ACS3-HMAC-SHA256');
  assert.equal(last.accessKeyId, 'LTAIgood');
  assert.equal(last.action, 'DescribeNetworkInterfaces');
});

test('without the CA the certificate is rejected (verification is never off)', async () => {
  restore = useCredentials(emu, 'env');
  const e = await rejects(api({ ca_file: undefined }).describeEni('eni-floating'));
  assert.equal(e.kind, 'config');
  assert.match(e.message, /ca_file/);
});

test('a wrong secret → SignatureDoesNotMatch (400); an unknown key → InvalidAccessKeyId.NotFound (404)', async () => {
  restore = useCredentials(emu, 'env', { id: 'LTAIgood', secret: 'not-the-secret' });
  const e1 = await rejects(api().describeEni('eni-floating'));
  assert.equal(e1.code, 'SignatureDoesNotMatch');
  assert.equal(e1.statusCode, 400);
  assert.match(e1.requestId ?? '', /^[0-9A-F-]{36}$/);
  restore();
  restore = useCredentials(emu, 'env', { id: 'LTAInobody', secret: 'x' });
  const e2 = await rejects(api().describeEni('eni-floating'));
  assert.equal(e2.code, 'InvalidAccessKeyId.NotFound');
  assert.equal(e2.statusCode, 404);
});

test('STS credentials from ALIBABA_CLOUD_CREDENTIALS_URI (served by the emulator)', async () => {
  restore = useCredentials(emu, 'uri');
  const r = await api().describeInstances(['i-db1', 'i-db2']);
  assert.deepEqual(r.instances.map((i) => i.id).sort(), ['i-db1', 'i-db2']);
  const last = emu.requests.at(-1)!;
  assert.match(last.accessKeyId ?? '', /^STS\./);
  assert.equal(last.status, 200);
});

test('legacy HMAC-SHA1 RPC signature is verified too', async () => {
  restore = useCredentials(emu, 'env');
  const r = await api({ legacySignature: true }).describeInstances(['i-db2']);
  assert.equal(r.instances[0]?.status, 'Running');
  assert.equal(emu.requests.at(-1)!.auth, 'HMAC-SHA1');
  restore();
  restore = useCredentials(emu, 'env', { id: 'LTAIgood', secret: 'wrong' });
  const e = await rejects(api({ legacySignature: true }).describeInstances(['i-db2']));
  assert.equal(e.code, 'SignatureDoesNotMatch');
});

test('an unsigned request gets IncompleteSignature with the API error body', async () => {
  const [host, port] = emu.endpoint.split(':');
  const { status, body } = await new Promise<{ status: number; body: Record<string, string> }>((resolve, reject) => {
    const req = httpsRequest({ host, port: Number(port), path: '/?RegionId=cn-hangzhou', method: 'POST', ca: emu.caPem, headers: { 'x-acs-action': 'DescribeInstances', 'x-acs-version': '2014-05-26' } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(status, 400);
  assert.equal(body.Code, 'IncompleteSignature');
  for (const k of ['RequestId', 'HostId', 'Code', 'Message', 'Recommend']) assert.ok(body[k], `error body has ${k}`);
  assert.match(body.Recommend!, /IncompleteSignature/);
});

test('detach and attach go through Detaching/Attaching to Available/InUse', async () => {
  restore = useCredentials(emu, 'env');
  const a = api();
  await a.detach('eni-floating', 'i-db1');
  assert.equal((await a.describeEni('eni-floating')).eni?.status, 'Detaching');
  await emu.waitFor((s) => s.enis.get('eni-floating')!.status === 'Available', SETTLE_MS);
  assert.equal((await a.describeEni('eni-floating')).eni?.instanceId, undefined);
  await a.attach('eni-floating', 'i-db2');
  assert.equal((await a.describeEni('eni-floating')).eni?.status, 'Attaching');
  await emu.waitFor((s) => s.enis.get('eni-floating')!.status === 'InUse', SETTLE_MS);
  assert.equal((await a.describeEni('eni-floating')).eni?.instanceId, 'i-db2');
});

test('documented constraints answer with their error codes', async () => {
  restore = useCredentials(emu, 'env');
  const a = api();
  // ENI InUse on db2: attaching it again is refused
  const e1 = await rejects(a.attach('eni-floating', 'i-db3'));
  assert.equal(e1.code, 'InvalidOperation.InvalidEniState');
  assert.equal(e1.statusCode, 400);
  // detaching it from an instance it is not on
  assert.equal((await rejects(a.detach('eni-floating', 'i-db3'))).code, 'InvalidOperation.InvalidEniState');
  assert.equal((await rejects(a.detach('eni-primary2', 'i-db2'))).code, 'InvalidOperation.DetachPrimaryEniNotAllowed');
  assert.equal((await rejects(a.attach('eni-nosuch', 'i-db3'))).code, 'InvalidEniId.NotFound');
  assert.equal((await rejects(a.attach('eni-floating', 'i-nosuch'))).code, 'InvalidEcsId.NotFound');
  assert.equal((await a.describeEni('eni-nosuch')).eni, undefined);
  // move it off db2, then try the other zone
  await a.detach('eni-floating', 'i-db2');
  await emu.waitFor((s) => s.enis.get('eni-floating')!.status === 'Available', SETTLE_MS);
  const e2 = await rejects(a.attach('eni-floating', 'i-otherzone'));
  assert.equal(e2.code, 'InvalidOperation.AvailabilityZoneMismatch');
  assert.equal((await rejects(a.forceStop('i-nosuch'))).code, 'InvalidInstanceId.NotFound');
  // an instance that takes no more ENIs
  emu.control({ op: 'setInstance', instance: { id: 'i-db3', maxEnis: 1 } });
  const e3 = await rejects(a.attach('eni-floating', 'i-db3'));
  assert.equal(e3.code, 'EniPerInstanceLimitExceeded');
  emu.control({ op: 'setInstance', instance: { id: 'i-db3', maxEnis: 3 } });
});

test('an ENI in transition refuses attach and detach with InvalidOperation.InvalidEniState (HTTP 400)', async () => {
  restore = useCredentials(emu, 'env');
  const a = api();
  await a.attach('eni-floating', 'i-db2');
  const e1 = await rejects(a.attach('eni-floating', 'i-db2')); // Attaching
  assert.equal(e1.code, 'InvalidOperation.InvalidEniState');
  assert.equal(e1.statusCode, 400);
  assert.equal((await rejects(a.detach('eni-floating', 'i-db2'))).code, 'InvalidOperation.InvalidEniState');
  await emu.waitFor((s) => s.enis.get('eni-floating')!.status === 'InUse', SETTLE_MS);
  await a.detach('eni-floating', 'i-db2');
  const e2 = await rejects(a.attach('eni-floating', 'i-db3')); // Detaching
  assert.equal(e2.code, 'InvalidOperation.InvalidEniState');
  assert.equal(e2.statusCode, 400);
  await emu.waitFor((s) => s.enis.get('eni-floating')!.status === 'Available', SETTLE_MS);
});

test('a forced stop of a Stopping instance is refused (IncorrectInstanceStatus)', async () => {
  restore = useCredentials(emu, 'env');
  const a = api();
  emu.control({ op: 'hungOs', instanceId: 'i-db2', on: true });
  emu.state.stopInstance('i-db2', false); // a graceful stop the hung guest never finishes
  const e = await rejects(a.forceStop('i-db2'));
  assert.equal(e.code, 'IncorrectInstanceStatus');
  assert.equal(e.statusCode, 403);
  emu.control({ op: 'setInstance', instance: { id: 'i-db2', status: 'Running', hungOs: false } });
});

test('hung guest OS: detach stays Detaching until the instance is force-stopped', async () => {
  restore = useCredentials(emu, 'env');
  const a = api();
  await a.attach('eni-floating', 'i-db3');
  await emu.waitFor((s) => s.enis.get('eni-floating')!.status === 'InUse', SETTLE_MS);
  emu.control({ op: 'hungOs', instanceId: 'i-db3', on: true });
  await a.detach('eni-floating', 'i-db3');
  await new Promise((r) => setTimeout(r, 800));
  assert.equal((await a.describeEni('eni-floating')).eni?.status, 'Detaching');
  await a.detach('eni-floating', 'i-db3'); // re-detach is accepted and still hangs
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await a.describeEni('eni-floating')).eni?.status, 'Detaching');
  await a.forceStop('i-db3');
  assert.equal((await a.instanceStatus('i-db3')).status, 'Stopping');
  await emu.waitFor((s) => s.instances.get('i-db3')!.status === 'Stopped', SETTLE_MS);
  await emu.waitFor((s) => s.enis.get('eni-floating')!.status === 'Available', SETTLE_MS);
  assert.equal((await rejects(a.forceStop('i-db3'))).code, 'IncorrectInstanceStatus');
  emu.control({ op: 'setInstance', instance: { id: 'i-db3', status: 'Running' } });
});

test('faults: throttling, 5xx, hang (read timeout), over the control API too', async () => {
  restore = useCredentials(emu, 'env');
  const a = api({ read_timeout_ms: 1000 });
  emu.inject({ kind: 'throttle', count: 1 });
  const t = await rejects(a.describeEni('eni-floating'));
  assert.equal(t.code, 'Throttling.User');
  assert.equal(t.statusCode, 400);
  const res = await fetch(emu.controlUrl, { method: 'POST', body: JSON.stringify({ op: 'fault', kind: 'error', count: 1, actions: ['DescribeInstances'] }) });
  assert.equal(res.status, 200);
  assert.equal((await a.describeEni('eni-floating')).eni?.id, 'eni-floating'); // other actions unaffected
  const s = await rejects(a.describeInstances(['i-db1']));
  assert.equal(s.code, 'ServiceUnavailable');
  assert.equal(s.statusCode, 503);
  emu.inject({ kind: 'hang', count: 1 });
  const h = await rejects(a.describeEni('eni-floating'));
  assert.equal(h.kind, 'timeout');
  const log = (await (await fetch(`${emu.controlUrl}/requests`)).json()) as { fault?: string }[];
  assert.ok(log.some((r) => r.fault === 'hang'));
  assert.ok(log.some((r) => r.fault === 'throttle'));
});

test('faults: Operation.Conflict, Throttling.User with x-acs-retry-after, a RAM policy without the action', async () => {
  restore = useCredentials(emu, 'env');
  const a = api();
  emu.inject({ kind: 'conflict', count: 1, actions: ['UnassignPrivateIpAddresses'] });
  const c = await rejects(a.unassignIp('eni-primary1', '10.77.0.200'));
  assert.equal(c.code, 'Operation.Conflict');
  assert.equal(c.statusCode, 403);
  emu.inject({ kind: 'throttle', count: 1, retryAfterMs: 1234 });
  const t = await rejects(a.describeEni('eni-floating'));
  assert.equal(t.code, 'Throttling.User');
  assert.equal(t.retryAfterMs, 1234);
  emu.control({ op: 'deny', actions: ['DetachNetworkInterface'], accessKeyId: 'LTAIgood' });
  const d = await rejects(a.detach('eni-floating', 'i-db1'));
  assert.equal(d.code, 'Forbidden.SubUser');
  assert.equal(d.statusCode, 403);
  assert.match(d.message, /DetachNetworkInterface/);
  assert.equal((await a.describeEni('eni-floating')).eni?.id, 'eni-floating'); // other actions allowed
  emu.clearFaults();
});

test('lag: a Describe answers from the state as it was, a mutation acts on the current one', async () => {
  restore = useCredentials(emu, 'env');
  const a = api();
  const before = (await a.describeEni('eni-floating')).eni!;
  emu.control({ op: 'lag', ms: 1500 });
  try {
    await a.assignIp('eni-primary2', '10.77.0.201', 'lag-test-token');
    assert.ok(emu.state.enis.get('eni-primary2')!.secondaryIps!.includes('10.77.0.201'));
    assert.deepEqual((await a.describeEnis(['eni-primary2'])).enis[0]!.secondaryIps, []); // not visible yet
    assert.equal((await a.describeEni('eni-floating')).eni?.status, before.status);
    await new Promise((r) => setTimeout(r, 1700));
    assert.deepEqual((await a.describeEnis(['eni-primary2'])).enis[0]!.secondaryIps, ['10.77.0.201']);
  } finally {
    emu.clearFaults();
    await a.unassignIp('eni-primary2', '10.77.0.201');
  }
});

test('an address outside the ENI\'s vSwitch CIDR block: InvalidVSwitchId.IpInvalid', async () => {
  restore = useCredentials(emu, 'env');
  const e = await rejects(api().assignIp('eni-primary2', '10.99.0.5', 'vsw-test-token'));
  assert.equal(e.code, 'InvalidVSwitchId.IpInvalid');
  assert.equal(e.statusCode, 403);
});

test('plain HTTP only when protocol http is configured explicitly', async () => {
  const plain = await startEcsEmulator({ state: labRegion(), protocol: 'http' });
  try {
    restore = useCredentials(plain, 'env');
    const r = await new EcsApi(cloudFor(plain) as ConstructorParameters<typeof EcsApi>[0]).describeEni('eni-floating');
    assert.equal(r.eni?.status, 'Available');
    assert.equal(plain.caFile, undefined);
  } finally {
    await plain.close();
  }
});

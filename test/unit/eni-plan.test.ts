import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planAttach, planFence, type FenceInput } from '../../src/eni/eni-plan';
import { backoffMs, Deadline, isSettling, isTransient, retryDelayMs, worthReconverging } from '../../src/eni/retry';

const base: FenceInput = {
  eniId: 'eni-1',
  eni: { status: 'InUse', type: 'Secondary', instanceId: 'i-old' },
  from: 'i-old',
  stonith: false,
  detachingForMs: 0,
  sinceLastDetachMs: Infinity,
  redetachAfterMs: 5000,
  stuckAfterMs: 10000,
  forceStopIssued: false,
};

test('fence: InUse on the old instance → detach', () => {
  assert.deepEqual(planFence(base), { kind: 'detach', from: 'i-old', again: false });
});

test('fence: Available → done, nothing to detach', () => {
  const s = planFence({ ...base, eni: { status: 'Available', type: 'Secondary' } });
  assert.equal(s.kind, 'done');
});

test('fence: on another instance → done (not on the old master)', () => {
  const s = planFence({ ...base, eni: { status: 'InUse', type: 'Secondary', instanceId: 'i-new' } });
  assert.equal(s.kind, 'done');
  assert.equal((s as { action: string }).action, 'not-on-old');
});

test('fence without old master: detach from anything but keep', () => {
  assert.equal(planFence({ ...base, from: undefined, keep: 'i-new' }).kind, 'detach');
  assert.equal(planFence({ ...base, from: undefined, keep: 'i-old' }).kind, 'done');
});

test('fence: not found and primary ENIs fail with codes', () => {
  assert.deepEqual(planFence({ ...base, eni: undefined }).kind, 'fail');
  assert.equal((planFence({ ...base, eni: undefined }) as { code: string }).code, 'InvalidEniId.NotFound');
  assert.equal((planFence({ ...base, eni: { status: 'InUse', type: 'Primary', instanceId: 'i-old' } }) as { code: string }).code, 'EniNotSecondary');
});

test('fence: Detaching → wait, then re-detach, then stuck', () => {
  const d = { ...base, eni: { status: 'Detaching', type: 'Secondary', instanceId: 'i-old' } };
  assert.equal(planFence({ ...d, detachingForMs: 1000, sinceLastDetachMs: 1000 }).kind, 'wait');
  assert.deepEqual(planFence({ ...d, detachingForMs: 6000, sinceLastDetachMs: 6000 }), { kind: 'detach', from: 'i-old', again: true });
  const stuck = planFence({ ...d, detachingForMs: 11000, sinceLastDetachMs: 1000 });
  assert.equal(stuck.kind, 'fail');
  assert.equal((stuck as { code: string }).code, 'StuckDetaching');
  assert.match((stuck as { why: string }).why, /stonith is off/);
  assert.deepEqual(planFence({ ...d, stonith: true, detachingForMs: 11000, sinceLastDetachMs: 1000 }), { kind: 'force-stop', instanceId: 'i-old' });
});

test('fence after force-stop: wait for Stopped, then detach again', () => {
  const d = { ...base, stonith: true, forceStopIssued: true, eni: { status: 'Detaching', type: 'Secondary', instanceId: 'i-old' }, detachingForMs: 20000 };
  assert.equal(planFence({ ...d, instanceStatus: 'Stopping', sinceLastDetachMs: 9000 }).kind, 'wait');
  assert.equal(planFence({ ...d, instanceStatus: 'Stopped', sinceLastDetachMs: 9000 }).kind, 'detach');
  assert.equal(planFence({ ...d, instanceStatus: 'Stopped', sinceLastDetachMs: 100 }).kind, 'wait');
});

test('fence: Attaching to the old instance → wait (cannot detach mid-attach)', () => {
  assert.equal(planFence({ ...base, eni: { status: 'Attaching', type: 'Secondary', instanceId: 'i-old' } }).kind, 'wait');
});

test('attach plans', () => {
  assert.deepEqual(planAttach('eni-1', { status: 'Available', type: 'Secondary' }, 'i-new'), { kind: 'attach', to: 'i-new' });
  assert.equal(planAttach('eni-1', { status: 'InUse', type: 'Secondary', instanceId: 'i-new' }, 'i-new').kind, 'done');
  assert.equal(planAttach('eni-1', { status: 'Attaching', type: 'Secondary', instanceId: 'i-new' }, 'i-new').kind, 'wait');
  assert.deepEqual(planAttach('eni-1', { status: 'InUse', type: 'Secondary', instanceId: 'i-old' }, 'i-new'), { kind: 'fence-other', from: 'i-old' });
  assert.equal(planAttach('eni-1', undefined, 'i-new').kind, 'fail');
  assert.equal(planAttach('eni-1', { status: 'Deleting', type: 'Secondary' }, 'i-new').kind, 'fail');
});

test('retry classification: only safe codes are retried', () => {
  const api = (code: string) => ({ kind: 'api' as const, code });
  for (const c of ['Throttling.User', 'Throttling', 'ServiceUnavailable', 'InternalError', 'OperationConflict', 'Operation.Conflict']) {
    assert.equal(isTransient(api(c), 'describe'), true, c);
    assert.equal(isTransient(api(c), 'mutate'), true, c);
  }
  for (const c of ['InvalidEniId.NotFound', 'InvalidAccessKeyId.NotFound', 'SignatureDoesNotMatch', 'InvalidOperation.AvailabilityZoneMismatch', 'InvalidOperation.DetachPrimaryEniNotAllowed']) {
    assert.equal(isTransient(api(c), 'describe'), false, c);
    assert.equal(worthReconverging(api(c)), false, c);
  }
  assert.equal(worthReconverging(api('Operation.Conflict')), true);
  assert.equal(isSettling(api('InvalidOperation.InvalidEniState')), true);
  assert.equal(worthReconverging(api('InvalidOperation.InvalidEcsState')), true);
  assert.equal(isTransient({ kind: 'timeout', code: 'Timeout' }, 'describe'), true);
  assert.equal(isTransient({ kind: 'timeout', code: 'Timeout' }, 'mutate'), false);
  assert.equal(isTransient({ kind: 'credentials', code: 'NoCredentials' }, 'describe'), false);
  assert.equal(isTransient({ kind: 'config', code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'describe'), false);
});

test('a retry waits at least as long as the endpoint asked (x-acs-retry-after)', () => {
  const p = { baseMs: 200, capMs: 3000 };
  assert.equal(retryDelayMs(0, { kind: 'api', code: 'Throttling.User', retryAfterMs: 2500 }, p, () => 0), 2500);
  assert.equal(retryDelayMs(0, { kind: 'api', code: 'Throttling.User' }, p, () => 0), 100);
  assert.equal(retryDelayMs(5, { kind: 'api', code: 'Throttling.User', retryAfterMs: 10 }, p, () => 1), 3000);
});

test('backoff grows, is capped, and always waits at least half the step', () => {
  const p = { baseMs: 200, capMs: 3000 };
  assert.equal(backoffMs(0, p, () => 0), 100);
  assert.equal(backoffMs(0, p, () => 1), 200);
  assert.equal(backoffMs(3, p, () => 0), 800);
  assert.equal(backoffMs(20, p, () => 1), 3000);
  assert.equal(backoffMs(20, p, () => 0), 1500);
});

test('deadline counts down with its clock', () => {
  let now = 1000;
  const d = new Deadline(500, () => now);
  assert.equal(d.remaining(), 500);
  now = 1400;
  assert.equal(d.remaining(), 100);
  assert.equal(d.expired(), false);
  now = 1600;
  assert.equal(d.expired(), true);
  assert.equal(d.elapsed(), 600);
});

/** The process-wide budget of connection-opening corroboration probes (plain data, no I/O). */
import test from 'node:test';
import assert from 'node:assert/strict';
import { ProbeBudget } from '../../src/monitor/budget';

test('first rounds wait for a slot in arrival order; a release hands the slot straight to the longest waiter', async () => {
  const b = new ProbeBudget(2);
  const r1 = await b.acquire();
  const r2 = await b.acquire();
  assert.equal(b.running, 2);
  const order: string[] = [];
  const w3 = b.acquire().then((r) => (order.push('third'), r));
  const w4 = b.acquire().then((r) => (order.push('fourth'), r));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, [], 'nobody gets a slot while both are taken');
  assert.equal(b.queued, 2);
  r2();
  const r3 = await w3;
  assert.deepEqual(order, ['third']);
  assert.equal(b.running, 2, 'the slot passed on; the count did not drop');
  r1();
  const r4 = await w4;
  assert.deepEqual(order, ['third', 'fourth']);
  r3();
  r4();
  assert.equal(b.running, 0);
  assert.equal(b.queued, 0);
});

test('a repeated round takes a slot only when one is free and no first round waits', async () => {
  const b = new ProbeBudget(2);
  const a = b.tryAcquire();
  assert.ok(a, 'a free slot');
  const r = await b.acquire();
  assert.equal(b.tryAcquire(), null, 'all slots taken: the repeat is skipped');
  const waiting = b.acquire();
  a!();
  const w = await waiting;
  assert.equal(b.tryAcquire(), null, 'the freed slot went to the waiting first round');
  r();
  assert.equal(b.running, 1);
  const again = b.tryAcquire();
  assert.ok(again, 'a slot is free and nobody waits');
  w();
  again!();
  assert.equal(b.running, 0);
  assert.ok(b.tryAcquire(), 'free again');
});

test('releasing twice gives back one slot', async () => {
  const b = new ProbeBudget(1);
  const r = await b.acquire();
  r();
  r();
  assert.equal(b.running, 0);
  const again = b.tryAcquire();
  assert.ok(again);
  assert.equal(b.tryAcquire(), null, 'the second release did not make room for two');
  again!();
});

test('a budget of less than one slot is refused', () => {
  assert.throws(() => new ProbeBudget(0), /at least 1/);
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applierMoved, applierToCut, drainVerdict, type ApplierSample } from '../../src/failover/drain';

const sample = (at: number, executed: string, trx: Record<string, number> = {}): ApplierSample => ({ at, executed, trx });

describe('drain: is the applier getting anywhere (drain.ts)', () => {
  it('a committed transaction is progress', () => {
    assert.equal(applierMoved(sample(0, 'u:1-5 @binlog.1:100'), sample(1000, 'u:1-6 @binlog.1:400')), 'its executed position moved');
  });

  it('a long transaction changing more rows is progress; the same rows, or the same transaction retried under a new id, are not', () => {
    const a = sample(0, 'u:1-5', { '7001': 1000 });
    assert.equal(applierMoved(a, sample(1000, 'u:1-5', { '7001': 25000 })), 'its open transaction 7001 changed 24000 more row(s)');
    assert.equal(applierMoved(a, sample(1000, 'u:1-5', { '7001': 1000 })), undefined, 'held by a lock');
    assert.equal(applierMoved(a, sample(1000, 'u:1-5', { '7002': 1000 })), undefined, 'rolled back after a lock wait timeout, retried');
    assert.equal(applierMoved(a, sample(1000, 'u:1-5', {})), undefined, 'rolled back, nothing committed');
  });

  it('nothing moves: stuck once apply_timeout_s passed since the start or since the last progress', () => {
    const base = { startedAt: 0, stallS: 3, maxS: 30 };
    assert.deepEqual(drainVerdict({ ...base, lastMovedAt: undefined, now: 2900 }), { stuck: false });
    const v = drainVerdict({ ...base, lastMovedAt: undefined, now: 3000 });
    assert.equal(v.stuck, true);
    assert.match(v.stuck ? v.why : '', /^no progress for 3.0 s: its applier did not move within failover.apply_timeout_s 3s$/);
    assert.deepEqual(drainVerdict({ ...base, lastMovedAt: 10_000, now: 12_900 }), { stuck: false }, 'progress 2.9 s ago: longer than apply_timeout_s in all, still waiting');
    const later = drainVerdict({ ...base, lastMovedAt: 10_000, now: 13_000 });
    assert.match(later.stuck ? later.why : '', /no progress for 3.0 s \(it had progressed before\)/);
  });

  it('progressing, but past drain_max_s: stuck all the same (a hung host must not hold the failover forever)', () => {
    const v = drainVerdict({ startedAt: 0, stallS: 3, maxS: 30, lastMovedAt: 29_500, now: 30_000 });
    assert.equal(v.stuck, true);
    assert.match(v.stuck ? v.why : '', /^still applying \(last progress 0.5 s ago\) after failover.drain_max_s 30s$/);
  });
});

describe('applierToCut: KILL the applier only when it waits for nothing but an incomplete transaction', () => {
  const coord = (state: string) => ({ id: 12, state });
  const worker = (id: number, state = 'Waiting for an event from Coordinator') => ({ id, state });
  it('the coordinator has read all the relay log and every worker waits for it: the coordinator', () => {
    assert.equal(applierToCut([coord('Replica has read all relay log; waiting for more updates'), worker(13), worker(14), worker(15), worker(16)]), 12);
    assert.equal(applierToCut([coord('Slave has read all relay log; waiting for more updates'), worker(13)]), 12, 'MySQL 5.7/8.0 wording');
    assert.equal(applierToCut([coord('Replica has read all relay log; waiting for more updates')]), 12, 'single-threaded applier');
  });
  it('a worker still applying or waiting for its commit turn: not yet', () => {
    assert.equal(applierToCut([coord('Replica has read all relay log; waiting for more updates'), worker(13, 'Applying batch of row changes (write)'), worker(14)]), undefined);
    assert.equal(applierToCut([coord('Replica has read all relay log; waiting for more updates'), worker(13, 'Waiting for preceding transaction to commit')]), undefined);
    assert.equal(applierToCut([coord('Replica has read all relay log; waiting for more updates'), worker(13, null as unknown as string)]), undefined);
  });
  it('the coordinator still reading its relay log, none, or two of them (another channel): no', () => {
    assert.equal(applierToCut([coord('Waiting for dependent transaction to commit'), worker(13)]), undefined);
    assert.equal(applierToCut([worker(13), worker(14)]), undefined);
    assert.equal(applierToCut([]), undefined);
    assert.equal(applierToCut([coord('Replica has read all relay log; waiting for more updates'), { id: 20, state: 'Replica has read all relay log; waiting for more updates' }, worker(13)]), undefined);
  });
});

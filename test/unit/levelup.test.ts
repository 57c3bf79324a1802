import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { countRelayTransactions, locateLastTransactions, parseRotate, type EventRow } from '../../src/failover/levelup';

const ev = (logName: string, pos: number, type: string, serverId: number, endLogPos: number, info = ''): EventRow => ({ logName, pos, type, serverId, endLogPos, info });

/** A relay log as MySQL writes it: the replica's own header, the source's Rotate, then transactions (source positions). */
function relay(file: string, startAt: string, txEnds: number[], origin = 1): EventRow[] {
  const rows = [ev(file, 4, 'Format_desc', 2, 127), ev(file, 127, 'Previous_gtids', 2, 158), ev(file, 158, 'Rotate', origin, 0, `${startAt};pos=4`)];
  let p = 300;
  for (const end of txEnds) {
    rows.push(ev(file, p, 'Anonymous_Gtid', origin, end - 186), ev(file, p + 79, 'Query', origin, end - 115, 'BEGIN'), ev(file, p + 150, 'Write_rows', origin, end - 31), ev(file, p + 190, 'Xid', origin, end, 'COMMIT'));
    p += 250;
  }
  return rows;
}

/** A binlog with transactions from the given server_ids; returns rows and the start of each transaction. */
function binlog(file: string, ids: number[]): { rows: EventRow[]; starts: number[]; end: number } {
  const rows = [ev(file, 4, 'Format_desc', 2, 127), ev(file, 127, 'Previous_gtids', 2, 158)];
  const starts: number[] = [];
  let p = 158;
  for (const id of ids) {
    starts.push(p);
    rows.push(ev(file, p, 'Anonymous_Gtid', id, p + 86), ev(file, p + 86, 'Query', id, p + 150, 'BEGIN'), ev(file, p + 150, 'Xid', id, p + 200, 'COMMIT'));
    p += 200;
  }
  return { rows, starts, end: p };
}

describe('level-up: counting in the relay log, locating in the binlog', () => {
  it('parses a Rotate event', () => {
    assert.deepEqual(parseRotate('binlog.000002;pos=158'), { file: 'binlog.000002', pos: 158 });
    assert.equal(parseRotate('garbage'), null);
  });
  it('counts the transactions between two boundaries of the source binlog, across a source rotation', () => {
    const a = relay('relay.000004', 'binlog.000007', [1000, 1500, 2000, 2500]);
    const b = relay('relay.000005', 'binlog.000008', [400, 900]);
    const all = countRelayTransactions([a, b], 1, { file: 'binlog.000007', pos: 1500 }, { file: 'binlog.000008', pos: 900 });
    assert.deepEqual(all, { ok: true, count: 4, coveredFrom: { file: 'binlog.000007', pos: 4 } });
    const part = countRelayTransactions([a, b], 1, { file: 'binlog.000007', pos: 1000 }, { file: 'binlog.000007', pos: 2500 });
    assert.equal(part.ok && part.count, 3);
    const none = countRelayTransactions([a, b], 1, { file: 'binlog.000008', pos: 900 }, { file: 'binlog.000008', pos: 900 });
    assert.equal(none.ok && none.count, 0);
  });
  it('a transaction received but not applied (beyond until) is not counted; other server_ids are not counted', () => {
    const a = relay('relay.000004', 'binlog.000007', [1000, 1500, 2000]);
    a.push(ev('relay.000004', 9000, 'Anonymous_Gtid', 9, 2100));
    const n = countRelayTransactions([a], 1, { file: 'binlog.000007', pos: 1000 }, { file: 'binlog.000007', pos: 1500 });
    assert.equal(n.ok && n.count, 1);
  });
  it('a relay log that begins after the survivor stopped (purged) cannot count', () => {
    const b = relay('relay.000005', 'binlog.000008', [400, 900]);
    const n = countRelayTransactions([b], 1, { file: 'binlog.000007', pos: 1500 }, { file: 'binlog.000008', pos: 900 });
    assert.equal(n.ok, false);
    assert.match(!n.ok ? n.why : '', /begins at binlog.000008:4 .*after binlog.000007:1500.*purged/);
  });
  it('locates the start of the last n transactions of the origin, across files', () => {
    const one = binlog('binlog.000001', [1, 1, 1]);
    const two = binlog('binlog.000002', [1, 1]);
    const end = { file: 'binlog.000002', pos: two.end };
    assert.deepEqual(locateLastTransactions([one.rows, two.rows], 1, 0, end), { ok: true, at: end });
    assert.deepEqual(locateLastTransactions([one.rows, two.rows], 1, 2, end), { ok: true, at: { file: 'binlog.000002', pos: two.starts[0] } });
    assert.deepEqual(locateLastTransactions([one.rows, two.rows], 1, 3, end), { ok: true, at: { file: 'binlog.000001', pos: one.starts[2] } });
    const short = locateLastTransactions([two.rows], 1, 3, end);
    assert.equal(short.ok, false);
    assert.match(!short.ok ? short.why : '', /holds 2 transaction\(s\), fewer than the 3/);
  });
  it('a transaction of another server_id among the last n stops the count', () => {
    const b = binlog('binlog.000003', [1, 5, 1]);
    const r = locateLastTransactions([b.rows], 1, 2, { file: 'binlog.000003', pos: b.end });
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.why : '', /server_id 5 \(not the dead master's 1\)/);
  });
});

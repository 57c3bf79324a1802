import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lackingAfterReceived, locateLastTransactions, originEvents, parseRotate, withinLacking, type EventRow } from '../../src/failover/levelup';

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
  const at = (file: string, pos: number) => ({ file: `binlog.00000${file}`, pos });
  // Transactions end at 1000, 1500, 2000, 2500 of binlog.000007 (opening events end 186 earlier), then 400, 900 of binlog.000008.
  const a = relay('relay.000004', 'binlog.000007', [1000, 1500, 2000, 2500]);
  const b = relay('relay.000005', 'binlog.000008', [400, 900]);
  it("the source's events at their coordinates in its binlog: frames and other server_ids left out, across relay log files", () => {
    const other = [...a.slice(0, 4), ev('relay.000004', 900, 'Anonymous_Gtid', 9, 777), ...a.slice(4)];
    const w = originEvents([other, b], 1);
    assert.ok(w.ok);
    assert.equal(w.evs.length, 6 * 4, 'four events per transaction, none of the frames, none of server 9');
    assert.deepEqual(w.evs.filter((x) => x.opens).map((x) => `${x.at.file}:${x.at.pos}`), ['binlog.000007:814', 'binlog.000007:1314', 'binlog.000007:1814', 'binlog.000007:2314', 'binlog.000008:214', 'binlog.000008:714']);
    const twice = originEvents([a, a], 1);
    assert.deepEqual(twice.ok ? 'ok' : twice.why, "its events are not in the source's order (binlog.000007:814 after binlog.000007:2500)");
  });
  it('a survivor that received whole transactions lacks those after them; its applier must stop between the last one and the next', () => {
    const n = lackingAfterReceived([a, b], 1, at('7', 1500), at('8', 900));
    assert.deepEqual(n, { ok: true, count: 4, from: at('7', 1314), before: at('7', 1814) });
    assert.ok(n.ok && withinLacking(at('7', 1500), n));
    assert.ok(n.ok && !withinLacking(at('7', 1000), n), 'one transaction short');
    assert.ok(n.ok && !withinLacking(at('7', 2000), n), 'one transaction beyond');
  });
  it('a transaction received only in part (the source died while sending it) is lacking too', () => {
    const mid = lackingAfterReceived([a, b], 1, at('7', 1969), at('7', 2500));
    assert.deepEqual(mid, { ok: true, count: 2, from: at('7', 1314), before: at('7', 1814) });
    const onlyOpened = lackingAfterReceived([a, b], 1, at('7', 1814), at('7', 2500));
    assert.deepEqual(onlyOpened, mid);
  });
  it('the end of a binlog file is a boundary: received to its last event, or to the next file\'s start', () => {
    const last = lackingAfterReceived([a, b], 1, at('7', 2500), at('8', 900));
    assert.deepEqual(last, { ok: true, count: 2, from: at('7', 2314), before: at('8', 214) });
    assert.deepEqual(lackingAfterReceived([a, b], 1, at('8', 4), at('8', 900)), last);
  });
  it('transactions beyond until (received, not applied by the winner) and other server_ids are not counted; nothing lacking has no upper bound', () => {
    const c = relay('relay.000004', 'binlog.000007', [1000, 1500, 2000]);
    c.push(ev('relay.000004', 9000, 'Anonymous_Gtid', 9, 2100));
    assert.deepEqual(lackingAfterReceived([c], 1, at('7', 1000), at('7', 1500)), { ok: true, count: 1, from: at('7', 814), before: at('7', 1314) });
    assert.deepEqual(lackingAfterReceived([c], 1, at('7', 2000), at('7', 2000)), { ok: true, count: 0, from: at('7', 1814) });
  });
  it('a relay log that begins after what the survivor received (purged), or inside the transaction it received in part, cannot tell', () => {
    const purged = lackingAfterReceived([b], 1, at('7', 1500), at('8', 900));
    assert.equal(purged.ok, false);
    assert.match(!purged.ok ? purged.why : '', /begins at binlog.000008:4 .*after binlog.000007:1500.*purged/);
    const cut = b.filter((r) => !(r.type === 'Anonymous_Gtid' && r.endLogPos === 214));
    const inPart = lackingAfterReceived([cut], 1, at('8', 300), at('8', 900));
    assert.match(!inPart.ok ? inPart.why : '', /ends inside a transaction whose beginning/);
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

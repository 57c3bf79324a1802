import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { summarizeJournal, type JournalRecord, type JournalSummary } from '../../src/failover/journal';
import { decideResume, earlierDrops, earlierPromotion, type ResumeFacts } from '../../src/failover/resume';

const AT = '2026-12-03T10:00:00.000Z';

/** A failover journal from a list of steps: [name, outcome or 'running', params?, data?]. */
function journal(
  steps: [string, 'ok' | 'failed' | 'skipped' | 'running', Record<string, unknown>?, Record<string, unknown>?][],
  o: { operation?: 'failover' | 'switchover' | 'rejoin'; trigger?: string; deadMaster?: string | null; id?: string; manager?: string } = {},
): JournalSummary {
  const records: JournalRecord[] = [
    {
      type: 'begin',
      at: AT,
      id: o.id ?? '20261203T100000.000Z-0001',
      operation: o.operation ?? 'failover',
      cluster: 'c1',
      pid: 4242,
      detail: { ...(o.deadMaster === null ? {} : { deadMaster: o.deadMaster ?? 'db1' }), trigger: o.trigger ?? 'auto' },
      ...(o.manager ? { manager: o.manager } : {}),
    },
  ];
  for (const [step, outcome, params, data] of steps) {
    records.push({ type: 'step-start', at: AT, step, ...(params ? { params } : {}) });
    if (outcome === 'running') {
      if (data) records.push({ type: 'step-progress', at: AT, step, data });
    } else records.push({ type: 'step-end', at: AT, step, outcome, detail: '', ...(data ? { data } : {}) });
  }
  return summarizeJournal('/state/c1/failover.journal.jsonl', records)!;
}

const facts = (o: Partial<ResumeFacts> = {}): ResumeFacts => ({ auto: true, deadMasterAnswers: false, currentMode: 'mysql-gtid', ...o });
const gtid = { nodes: ['db2', 'db3'], mode: 'mysql-gtid' };
const file = { nodes: ['db2', 'db3'], mode: 'file' };

describe('finishing an interrupted failover without a person (decideResume)', () => {
  it('GTID: a crash after the promotion resumes, keeping the promoted node', () => {
    const j = journal([['fence', 'ok'], ['freeze', 'ok', gtid], ['promote', 'ok', { node: 'db2' }, { node: 'db2' }], ['repoint', 'running']]);
    const d = decideResume([j], facts());
    assert.equal(d.resume, true);
    assert.ok(d.resume);
    assert.equal(d.deadMaster, 'db1');
    assert.equal(d.promoted, 'db2');
    assert.match(d.why, /step repoint was in flight.*keeps db2, which it promoted/);
  });

  it('GTID: a crash inside promote resumes with the half-promoted node', () => {
    const j = journal([['freeze', 'ok', gtid], ['promote', 'running', { node: 'db3' }, { binlog: { file: 'b.000002', pos: 157 } }]]);
    const d = decideResume([j], facts());
    assert.ok(d.resume);
    assert.equal(d.promoted, 'db3');
    assert.match(d.why, /had begun to promote/);
  });

  it('GTID: before any promotion it resumes and plans afresh, even with salvage or catch-up under way', () => {
    const j = journal([['freeze', 'ok', gtid], ['catch-up', 'running'], ['salvage-fetch', 'ok']]);
    const d = decideResume([j], facts());
    assert.ok(d.resume);
    assert.equal(d.promoted, null);
    assert.match(d.why, /plans afresh/);
    const after = journal([['freeze', 'ok', { nodes: [], mode: 'mariadb-gtid' }], ['promote', 'ok', {}, { node: 'db2' }], ['salvage-apply', 'running']]);
    assert.equal(decideResume([after], facts()).resume, true, 'GTID salvage applies only what the winner lacks: repeatable');
  });

  it('file/position: a salvage-apply that journaled where the winner stood resumes; one that did not blocks; one that never started does not', () => {
    for (const outcome of ['running', 'ok', 'failed'] as const) {
      const old = journal([['freeze', 'ok', file], ['promote', 'ok', {}, { node: 'db2' }], ['salvage-apply', outcome, { node: 'db2', from: 'db1' }]]);
      const d = decideResume([old], facts());
      assert.equal(d.resume, false, outcome);
      assert.match(d.why, /salvage-apply.*did not journal where the winner's binlog stood.*a second time/);
      const counted = journal([['freeze', 'ok', file], ['promote', 'ok', {}, { node: 'db2' }], ['salvage-apply', outcome, { node: 'db2', from: 'db1', mode: 'file' }, { winnerBinlog: { file: 'binlog.000002', pos: 4711 } }]]);
      assert.equal(decideResume([counted], facts()).resume, true, outcome);
    }
    const skipped = journal([['freeze', 'ok', file], ['promote', 'ok', {}, { node: 'db2' }], ['salvage-apply', 'skipped'], ['attach', 'running']]);
    assert.equal(decideResume([skipped], facts()).resume, true);
    const before = journal([['freeze', 'ok', file], ['promote', 'ok', {}, { node: 'db2' }], ['repoint', 'running']]);
    assert.equal(decideResume([before], facts()).resume, true);
  });

  it('file/position: a catch-up begun before any promotion blocks; after a promotion it is history', () => {
    const cu = journal([['freeze', 'ok', file], ['catch-up', 'ok']]);
    const d = decideResume([cu], facts());
    assert.equal(d.resume, false);
    assert.match(d.why, /catch-up.*another replica's binlog/);
    const promoted = journal([['freeze', 'ok', file], ['catch-up', 'ok'], ['promote', 'ok', {}, { node: 'db2' }]]);
    assert.equal(decideResume([promoted], facts()).resume, true);
  });

  it('the journaled mode wins over what the survivors show now; without either it blocks', () => {
    const j = journal([['freeze', 'ok', file], ['promote', 'ok', {}, { node: 'db2' }], ['salvage-apply', 'running', { node: 'db2' }]]);
    assert.equal(decideResume([j], facts({ currentMode: 'mysql-gtid' })).resume, false);
    const old = journal([['fence', 'ok'], ['freeze', 'ok', { nodes: ['db2'] }], ['promote', 'ok', {}, { node: 'db2' }], ['salvage-apply', 'running']]);
    assert.equal(decideResume([old], facts({ currentMode: 'file' })).resume, false, 'falls back to the current mode');
    assert.equal(decideResume([old], facts({ currentMode: 'mysql-gtid' })).resume, true);
    const unknown = decideResume([journal([['fence', 'running']])], facts({ currentMode: null }));
    assert.equal(unknown.resume, false);
    assert.match(unknown.why, /position mode/);
  });

  it('blocks when a person must decide', () => {
    const j = journal([['freeze', 'ok', gtid], ['promote', 'ok', {}, { node: 'db2' }]]);
    const cases: [JournalSummary[], Partial<ResumeFacts>, RegExp][] = [
      [[j], { deadMasterAnswers: true }, /db1 answers again/],
      [[j], { auto: false }, /failover\.auto is off/],
      [[journal([['promote', 'ok', {}, { node: 'db2' }]], { trigger: 'manual' })], {}, /started by an operator/],
      [[journal([['promote', 'running']], { operation: 'switchover' })], {}, /is a switchover/],
      [[journal([], { operation: 'rejoin' })], {}, /is a rejoin/],
      [[journal([['fence', 'ok']], { deadMaster: null })], {}, /names no dead master/],
      [[j, journal([['fence', 'ok']], { id: 'x2' })], {}, /2 operations are unfinished/],
      [[], {}, /nothing is unfinished/],
    ];
    for (const [js, f, why] of cases) {
      const d = decideResume(js, facts(f));
      assert.equal(d.resume, false, String(why));
      assert.match(d.why, why);
    }
  });
});

describe('heir.ha: the leader takes up what any manager left unfinished (decideResume with notLeading)', () => {
  // mgr-a promoted db3 and died before the address was attached (repoint and verify done).
  const steps: Parameters<typeof journal>[0] = [
    ['fence', 'skipped'],
    ['fence-address', 'ok'],
    ['freeze', 'ok', { nodes: ['db2', 'db3'], mode: 'mariadb-gtid' }],
    ['reread', 'ok'],
    ['promote', 'ok', { node: 'db3' }, { node: 'db3' }],
    ['repoint', 'ok'],
    ['verify', 'ok'],
    ['attach', 'running', { node: 'db3' }],
  ];

  it('another manager\'s journal (from etcd) resumes on the leader exactly as its own would: the promoted node is kept', () => {
    const other = journal(steps, { manager: 'mgr-a' });
    assert.equal(other.manager, 'mgr-a', 'the summary names the manager that began it');
    const own = journal(steps);
    const d = decideResume([other], facts({ currentMode: null }));
    assert.deepEqual(d, decideResume([own], facts({ currentMode: null })));
    assert.ok(d.resume);
    assert.equal(d.promoted, 'db3');
    assert.equal(d.deadMaster, 'db1');
    assert.match(d.why, /^step attach was in flight \(mariadb-gtid\); the rerun keeps db3, which it promoted, and does the remaining steps$/);
  });

  it('a manager that does not lead leaves a safe rerun to the leader, without an alert', () => {
    const d = decideResume([journal(steps, { manager: 'mgr-a' })], facts({ notLeading: 'mgr-b is not the leader of cluster c1 (mgr-c leads)' }));
    assert.equal(d.resume, false);
    assert.ok(!d.resume && d.leftToLeader);
    assert.match(d.why, /a rerun would be safe, but this manager may not act on the cluster \(mgr-b is not the leader of cluster c1 \(mgr-c leads\)\): the leader finishes it/);
  });

  it('what blocks a rerun blocks it whoever leads: a person decides, the alert is due (not left to a leader)', () => {
    const notLeading = 'lease not confirmed';
    for (const [js, f, why] of [
      [[journal(steps, { manager: 'mgr-a' })], facts({ deadMasterAnswers: true, notLeading }), /its dead master db1 answers again/],
      [[journal(steps, { manager: 'mgr-a', trigger: 'manual' })], facts({ notLeading }), /started by an operator/],
      [[journal(steps, { manager: 'mgr-a' }), journal([['fence', 'running']], { manager: 'mgr-b', id: '20261203T100001.000Z-0002' })], facts({ notLeading }), /2 operations are unfinished/],
      [[journal(steps, { manager: 'mgr-a', operation: 'switchover' })], facts({ notLeading }), /is a switchover/],
    ] as const) {
      const d = decideResume([...js], f);
      assert.equal(d.resume, false);
      assert.ok(!d.resume && !d.leftToLeader, d.why);
      assert.match(d.why, why);
    }
  });
});

describe('what a rerun takes from the unfinished runs before it (earlierPromotion, earlierDrops)', () => {
  const id = (n: number) => `20261203T10000${n}.000Z-000${n}`;
  const ended = (j: JournalSummary): JournalSummary => ({ ...j, end: { at: AT, outcome: 'promoted', summary: '' }, unfinished: false });
  const bin = { file: 'b.000002', pos: 157 };

  it('keeps the node the newest unfinished run promoted, with what its promote step journaled', () => {
    const past = [
      journal([['promote', 'ok', { node: 'db2' }, { node: 'db2', binlog: bin }]], { id: id(1) }),
      journal([['promote', 'ok', { node: 'db3' }, { node: 'db3', binlog: bin, fromDead: bin }]], { id: id(2) }),
    ];
    assert.deepEqual(earlierPromotion(past, 'db1', id(9)), { node: 'db3', binlog: bin, fromDead: bin });
  });

  it('a promote step in flight when heir died: its node, marked unfinished, with its start and progress', () => {
    const past = [journal([['freeze', 'ok'], ['promote', 'running', { node: 'db3', semiSync: false }, { binlog: bin }]], { id: id(1) })];
    assert.deepEqual(earlierPromotion(past, 'db1', id(9)), { node: 'db3', semiSync: false, binlog: bin, unfinished: true });
  });

  it('nothing from a failover that ended, from runs before it, from another dead master, or from the running one itself', () => {
    const promoted = (n: number, dead = 'db1') => journal([['promote', 'ok', { node: 'db2' }, { node: 'db2' }]], { id: id(n), deadMaster: dead });
    assert.equal(earlierPromotion([promoted(1), ended(journal([], { id: id(2) }))], 'db1', id(9)), undefined);
    assert.equal(earlierPromotion([promoted(1, 'db2')], 'db1', id(9)), undefined);
    assert.equal(earlierPromotion([promoted(1)], 'db1', id(1)), undefined);
    assert.equal(earlierPromotion([journal([['freeze', 'ok'], ['drain', 'failed']], { id: id(1) })], 'db1', id(9)), undefined);
    // A switchover journal in between does not end the chain: only a failover that ended does.
    assert.equal(earlierPromotion([promoted(1), journal([], { id: id(2), operation: 'switchover' })], 'db1', id(9))?.node, 'db2');
  });

  it('salvage: the newest apply says how it ended, the oldest where the winner\'s binlog stood before any', () => {
    const first = { file: 'w.000001', pos: 400 };
    const past = [
      journal([['promote', 'ok', { node: 'db2' }, { node: 'db2' }], ['salvage-apply', 'running', { mode: 'file' }, { winnerBinlog: first }]], { id: id(1) }),
      journal([['salvage-apply', 'failed', { mode: 'file' }, { winnerBinlog: { file: 'w.000001', pos: 900 } }]], { id: id(2) }),
    ];
    assert.deepEqual(earlierPromotion(past, 'db1', id(9))?.salvage, { outcome: 'failed', since: first });
  });

  it('the drops of every unfinished run, newest run first, with the run that dropped each node', () => {
    const past = [
      journal([['drain', 'ok', undefined, { dropped: { db2: 'stuck applier' }, winner: 'db3' }]], { id: id(1) }),
      journal([['drain', 'ok', undefined, { dropped: { db4: 'SQL error 1062' } }], ['catch-up', 'ok']], { id: id(2) }),
    ];
    assert.deepEqual(earlierDrops(past, 'db1', id(9)), [
      { journal: id(2), node: 'db4', why: 'SQL error 1062' },
      { journal: id(1), node: 'db2', why: 'stuck applier' },
    ]);
    assert.deepEqual(earlierDrops([...past, ended(journal([], { id: id(3) }))], 'db1', id(9)), []);
    assert.deepEqual(earlierDrops(past, 'db2', id(9)), []);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promotedIn, promotionStarted, summarizeJournal } from '../../src/failover/journal';
import { Runner, type RunResult, type Step, type StepEvent } from '../../src/failover/runner';
import { MemJournal } from '../support/mem-journal';

// ---------------------------------------------------------------------------
// A synthetic list

interface Toy {
  log: string[];
  state: Record<string, boolean>;
  failAt?: string;
  haltAt?: string;
  abort?: AbortController;
  abortAfter?: string;
}

function toyStep(id: string, o: Partial<Step<Toy>> = {}): Step<Toy> {
  return {
    id,
    name: id,
    repeatable: true,
    mutates: true,
    what: () => `do ${id}`,
    run: async (c) => {
      c.log.push(`run ${id}`);
      if (c.failAt === id) throw new Error(`${id} broke`);
      c.state[id] = true;
      if (c.abortAfter === id) c.abort?.abort('operator stop');
      return c.haltAt !== id;
    },
    halts: (_c, v) => v === false,
    undo: { name: 'rollback', what: () => `undo ${id}`, run: async (c) => void (c.log.push(`undo ${id}`), (c.state[id] = false)) },
    ...o,
  };
}

function toyList(): Step<Toy>[] {
  return [
    toyStep('a'),
    toyStep('b', { undoOnFailure: true }),
    toyStep('c', { pointOfNoReturn: true, undo: undefined }),
    toyStep('d'),
  ];
}

async function runToy(c: Toy, steps = toyList(), signal?: AbortSignal): Promise<{ r: RunResult; events: StepEvent[]; journal: MemJournal }> {
  const events: StepEvent[] = [];
  const journal = new MemJournal();
  const r = await new Runner<Toy>({ operation: 'toy', onEvent: (e) => events.push(e), openJournal: async () => journal.writer({}), signal }).run(steps, c);
  return { r, events, journal };
}

describe('step runner', () => {
  it('runs the steps in order, each journaled before and after', async () => {
    const c: Toy = { log: [], state: {} };
    const { r, events, journal } = await runToy(c);
    assert.equal(r.ok, true);
    assert.deepEqual(c.log, ['run a', 'run b', 'run c', 'run d']);
    assert.deepEqual(events.map((e) => `${e.phase} ${e.name}`), ['start a', 'done a', 'start b', 'done b', 'start c', 'done c', 'start d', 'done d']);
    assert.deepEqual(journal.records.map((x) => (x.type === 'begin' ? 'begin' : x.type === 'step-start' ? `start ${x.step}` : x.type === 'step-end' ? `end ${x.step} ${x.outcome}` : x.type)),
      ['begin', 'start a', 'end a ok', 'start b', 'end b ok', 'start c', 'end c ok', 'start d', 'end d ok']);
  });

  it('undoes the steps done, newest first, when one fails before the point of no return', async () => {
    const c: Toy = { log: [], state: {}, failAt: 'b' };
    const { r } = await runToy(c);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.at, 'b');
    // b may have half happened (undoOnFailure): its undo runs too, then a's.
    assert.deepEqual(c.log, ['run a', 'run b', 'undo b', 'undo a']);
    assert.deepEqual(!r.ok && r.undone, ['b', 'a']);
  });

  it('a halting step stops the list and its predecessors are undone', async () => {
    const c: Toy = { log: [], state: {}, haltAt: 'b' };
    const { r } = await runToy(c);
    assert.equal(!r.ok && r.why, 'halted');
    assert.deepEqual(c.log, ['run a', 'run b', 'undo b', 'undo a']);
  });

  it('undoes nothing after the point of no return', async () => {
    const c: Toy = { log: [], state: {}, failAt: 'd' };
    const { r } = await runToy(c);
    assert.equal(!r.ok && r.at, 'd');
    assert.deepEqual(c.log, ['run a', 'run b', 'run c', 'run d']);
    assert.deepEqual(!r.ok && r.undone, []);
  });

  it('an interrupt stops at the next step boundary and undoes; after the point of no return it waits for the end', async () => {
    const abort = new AbortController();
    const c: Toy = { log: [], state: {}, abort, abortAfter: 'a' };
    const { r } = await runToy(c, toyList(), abort.signal);
    assert.equal(!r.ok && r.why, 'interrupted');
    assert.match(String(!r.ok && (r.error as Error).message), /interrupted before step b: operator stop/);
    assert.deepEqual(c.log, ['run a', 'undo a']);

    // A step left out (its condition false) is no boundary: the interrupt names the next one that would run.
    const skip = new AbortController();
    const list = toyList();
    list[1] = toyStep('b', { when: () => false });
    const { r: rs } = await runToy({ log: [], state: {}, abort: skip, abortAfter: 'a' }, list, skip.signal);
    assert.equal(!rs.ok && rs.at, 'c');

    const late = new AbortController();
    const c2: Toy = { log: [], state: {}, abort: late, abortAfter: 'c' };
    const { r: r2 } = await runToy(c2, toyList(), late.signal);
    assert.equal(r2.ok, true);
    assert.deepEqual(c2.log, ['run a', 'run b', 'run c', 'run d']);
  });

  it('a refused mutation check stops everything, the undo included', async () => {
    const c: Toy = { log: [], state: {} };
    let n = 0;
    const r = await new Runner<Toy>({
      operation: 'toy',
      beforeMutation: async () => {
        if (++n === 2) throw new Error('not the leader');
      },
    }).run(toyList(), c);
    assert.equal(!r.ok && r.mayNotAct, 'not the leader');
    assert.deepEqual(c.log, ['run a']);
  });

  it('a `journal` step is journaled though it changes nothing, and is not asked of the mutation check; a quiet read is neither', async () => {
    const c: Toy = { log: [], state: {} };
    const asked: string[] = [];
    const journal = new MemJournal();
    const steps = [toyStep('read', { mutates: false, quiet: true }), toyStep('decide', { mutates: false, journal: true }), toyStep('act')];
    const r = await new Runner<Toy>({ operation: 'toy', openJournal: async () => journal.writer({}), beforeMutation: async (w) => void asked.push(w) }).run(steps, c);
    assert.equal(r.ok, true);
    assert.deepEqual(asked, ['step act of toy']);
    assert.deepEqual(journal.records.map((x) => (x.type === 'step-start' ? `start ${x.step}` : x.type === 'step-end' ? `end ${x.step}` : x.type)), ['begin', 'start decide', 'end decide', 'start act', 'end act']);
  });

  it('background steps overlap the steps after them; `needs` waits and skips after a failure', async () => {
    const c: Toy = { log: [], state: {} };
    const slow = (id: string, ms: number, o: Partial<Step<Toy>> = {}) =>
      toyStep(id, {
        background: true,
        run: async (x) => {
          x.log.push(`start ${id}`);
          await new Promise((res) => setTimeout(res, ms));
          if (o.optional === true && id === 'bad') throw new Error('bad broke');
          x.log.push(`end ${id}`);
        },
        ...o,
      });
    const steps = [
      toyStep('a'),
      slow('bg', 30),
      toyStep('b'),
      slow('bad', 5, { optional: true }),
      toyStep('after-bg', { needs: ['bg'] }),
      toyStep('after-bad', { needs: ['bad'] }),
      toyStep('last', { after: ['bad'] }),
    ];
    const { r } = await runToy(c, steps);
    assert.equal(r.ok, true);
    // bg started before b ran and ended after it; after-bg waited for it; after-bad never ran.
    assert.deepEqual(c.log, ['run a', 'start bg', 'run b', 'start bad', 'end bg', 'run after-bg', 'run last']);
    assert.equal(r.outcomes.get('bad'), 'failed');
    assert.equal(r.outcomes.get('after-bad'), 'skipped');
  });

  it('resumes from every journal prefix: a step journaled done is not run again', async () => {
    const full = await runToy({ log: [], state: {} });
    const records = full.journal.records;
    for (let n = 1; n <= records.length; n++) {
      const prefix = records.slice(0, n);
      const j = summarizeJournal('mem', prefix)!;
      const doneBefore = j.steps.filter((s) => s.outcome === 'ok').map((s) => s.step);
      const c: Toy = { log: [], state: {} };
      const r = await new Runner<Toy>({ operation: 'toy' }).run(toyList(), c, j);
      assert.equal(r.ok, true, `prefix ${n}`);
      assert.deepEqual(c.log, toyList().filter((s) => !doneBefore.includes(s.id)).map((s) => `run ${s.id}`), `prefix ${n}`);
    }
  });

  it('refuses to resume a step in flight that is not safe to repeat, and a run that was undoing', async () => {
    const steps = [toyStep('a'), toyStep('b', { repeatable: false })];
    const j = summarizeJournal('mem', [
      { type: 'begin', at: '', id: 'x', operation: 'switchover', cluster: 'c1', pid: 1, detail: {} },
      { type: 'step-start', at: '', step: 'a', params: { id: 'a' } },
      { type: 'step-end', at: '', step: 'a', outcome: 'ok', detail: '' },
      { type: 'step-start', at: '', step: 'b', params: { id: 'b' } },
    ])!;
    const c: Toy = { log: [], state: {} };
    const r = await new Runner<Toy>({ operation: 'toy' }).run(steps, c, j);
    assert.equal(!r.ok && r.why, 'not-resumable');
    assert.match(String(!r.ok && (r.error as Error).message), /step b was in flight .* not safe to repeat/);
    assert.deepEqual(c.log, []);

    const undoing = summarizeJournal('mem', [
      { type: 'begin', at: '', id: 'x', operation: 'switchover', cluster: 'c1', pid: 1, detail: {} },
      { type: 'step-start', at: '', step: 'rollback', params: { id: 'undo:a' } },
    ])!;
    const r2 = await new Runner<Toy>({ operation: 'toy' }).run(toyList(), c, undoing);
    assert.equal(!r2.ok && r2.why, 'not-resumable');
    assert.deepEqual(c.log, []);
  });

  it('journals what a step starts with, what it records on the way and at its end, as the failover resume reads it', async () => {
    const promote = (die: boolean): Step<Toy> => ({
      id: 'promote', name: 'promote', mutates: true, repeatable: false,
      what: () => 'promote db2',
      params: () => ({ node: 'db2' }),
      run: async (_c, api) => {
        await api.progress({ binlog: { file: 'binlog.000002', pos: 4 } });
        if (die) return new Promise(() => {});
        return 'db2';
      },
      data: (_c, v) => ({ node: v as string, position: { file: 'binlog.000002', pos: 157 } }),
    });
    // Dies inside the step: the journal shows it in flight, with its params and progress.
    const half = new MemJournal();
    const dying = new Runner<Toy>({ operation: 'failover op1', openJournal: async () => half.writer({}, 'failover') });
    void dying.run([promote(true)], { log: [], state: {} });
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    const j1 = summarizeJournal('mem', half.records)!;
    assert.deepEqual(promotionStarted(j1), { node: 'db2', id: 'promote', detail: 'promote db2', binlog: { file: 'binlog.000002', pos: 4 } });
    assert.equal(promotedIn(j1), undefined);
    // A resumed run does not repeat a step in flight that is not safe to repeat.
    const r = await new Runner<Toy>({ operation: 'failover op1' }).run([promote(false)], { log: [], state: {} }, j1);
    assert.equal(!r.ok && r.why, 'not-resumable');

    const whole = new MemJournal();
    const events: StepEvent[] = [];
    await new Runner<Toy>({ operation: 'failover op1', onEvent: (e) => events.push(e), openJournal: async () => whole.writer({}, 'failover') }).run([promote(false)], { log: [], state: {} });
    const j2 = summarizeJournal('mem', whole.records)!;
    assert.deepEqual(promotedIn(j2), { node: 'db2', binlog: { file: 'binlog.000002', pos: 4 }, position: { file: 'binlog.000002', pos: 157 } });
    assert.deepEqual(events.at(-1)?.data, { node: 'db2', position: { file: 'binlog.000002', pos: 157 } });
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { failoverSteps, type FailoverCtx } from '../../src/failover/failover-steps';
import { Runner, type StepApi, type StepEvent } from '../../src/failover/runner';
import { MemJournal } from '../support/mem-journal';

/**
 * The failover's step list (failover-steps.ts) against an in-memory context: what runs, in
 * which order, what runs beside what, and what is undone. No MySQL here: the failover
 * integration suites run the real steps.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class FakeFailover implements FailoverCtx {
  readonly calls: string[] = [];
  nodeCount = 3;
  fenceAtVerdict = false;
  addressBack = false;
  salvageWanted = false;
  waitsForReplica = false;
  /** Per call: ms it takes, or an error it throws. */
  slow: Record<string, number> = {};
  fail: Record<string, Error> = {};
  stopAt?: 'plan' | 'hook';
  /** Catch-up sources still to do; a source in `cannotServe` elects again, with `again` as the new catch-ups. */
  catchUps: string[] = [];
  cannotServe = new Set<string>();
  again: string[] = [];
  salvageOn = false;
  killWanted = false;
  levelUps = false;
  repoints = true;
  private firstDone!: () => void;
  private readonly first = new Promise<void>((r) => (this.firstDone = r));

  private async act(call: string, api?: StepApi): Promise<void> {
    this.calls.push(`${call}:start`);
    const ms = this.slow[call];
    if (ms) await sleep(ms);
    if (this.fail[call]) throw this.fail[call];
    if (api) api.record.detail = `${call} done`;
    this.calls.push(`${call}:end`);
  }

  why(step: string): string {
    return `why ${step}`;
  }
  params(step: string): Record<string, unknown> {
    return { step };
  }
  async elect(): Promise<'go' | 'stop'> {
    await this.act('plan');
    return this.stopAt === 'plan' ? 'stop' : 'go';
  }
  async preFailoverHook(): Promise<'go' | 'stop'> {
    await this.act('hook');
    return this.stopAt === 'hook' ? 'stop' : 'go';
  }
  async beginJournal(): Promise<void> {
    this.calls.push('journal');
  }
  async notePlannedWinner(): Promise<void> {
    this.calls.push('note-winner');
  }
  fence = (api: StepApi) => this.act('fence', api);
  fenceAddress = (api: StepApi) => this.act('fence-address', api);
  freeze = (api: StepApi) => this.act('freeze', api);
  decideSalvage(): void {
    this.salvageWanted = this.salvageOn;
  }
  salvageFetch = (api: StepApi) => this.act('salvage-fetch', api);
  reread = (api: StepApi) => this.act('reread', api);
  fenceKillWanted = () => this.killWanted;
  fenceKill = (api: StepApi) => this.act('fence-kill', api);
  drain = (api: StepApi) => this.act('drain', api);
  levelUpWanted = () => this.levelUps;
  levelUp = (api: StepApi) => this.act('level-up', api);
  catchUpPending = () => this.catchUps.length > 0;
  async catchUp(api: StepApi): Promise<void> {
    const from = this.catchUps.shift()!;
    await this.act(`catch-up ${from}`, api);
    if (this.cannotServe.has(from)) {
      api.record.outcome = 'skipped';
      this.catchUps = [...this.again];
      this.again = [];
    }
  }
  promote = (api: StepApi) => this.act('promote', api);
  startLateFence(): void {
    this.calls.push('late-fence');
  }
  repointWanted = () => this.repoints;
  async repoint(api: StepApi): Promise<void> {
    try {
      await this.act('repoint', api);
    } finally {
      this.firstDone();
    }
  }
  verify = (api: StepApi) => this.act('verify', api);
  async firstRepointed(): Promise<void> {
    await this.first;
    this.calls.push('one-repointed');
  }
  salvageApply = (api: StepApi) => this.act('salvage-apply', api);
  attach = (api: StepApi) => this.act('attach', api);
  async undoReplication(): Promise<void> {
    this.calls.push('undo-replication');
  }
  async giveAddressBack(api: StepApi): Promise<void> {
    await this.act('address-back', api);
  }
}

async function run(f: FakeFailover, o: { signal?: AbortSignal; beforeStep?: (s: string) => void } = {}) {
  const journal = new MemJournal();
  const events: StepEvent[] = [];
  const runner = new Runner<FailoverCtx>({
    operation: 'failover t1',
    openJournal: async () => journal.writer({}, 'failover'),
    onEvent: (e) => events.push(e),
    ...o,
  });
  const r = await runner.run(failoverSteps(f.nodeCount), f);
  const ends = events.filter((e) => e.phase !== 'start').map((e) => `${e.name}:${e.phase === 'failed' ? 'failed' : e.outcome}`);
  return { r, journal, events, ends };
}

/** The calls in order, starts only. */
const starts = (f: FakeFailover) => f.calls.filter((c) => !c.endsWith(':end')).map((c) => c.replace(/:start$/, ''));

describe('failover step list', () => {
  it('runs the steps in order; the address fence runs beside the database work, attach comes last', async () => {
    const f = new FakeFailover();
    f.slow['fence-address'] = 30;
    const { r, ends, journal } = await run(f);
    assert.equal(r.ok, true);
    // verify waits for the repoint (both in the background); the attach does not.
    assert.deepEqual(starts(f), ['plan', 'hook', 'journal', 'fence', 'fence-address', 'freeze', 'reread', 'drain', 'promote', 'late-fence', 'repoint', 'attach', 'verify']);
    // The fence was still detaching while freeze, reread, drain and the promotion ran.
    assert.ok(f.calls.indexOf('fence-address:end') > f.calls.indexOf('promote:end'), f.calls.join(' '));
    // (The attach itself waits for the fence, or attaches while it settles: the mover's rule, in the context.)
    assert.ok(ends.includes('attach:ok'));
    // Every narrated step is journaled: start and end; no quiet step is.
    const journaled = journal.records.filter((x) => x.type === 'step-start').map((x) => (x as { step: string }).step);
    assert.deepEqual(journaled.sort(), ['attach', 'drain', 'fence', 'fence-address', 'freeze', 'promote', 'repoint', 'reread', 'verify']);
  });

  it('at the verdict the address fence starts before the plan, and the journal notes the winner once planned', async () => {
    const f = new FakeFailover();
    f.fenceAtVerdict = true;
    f.slow.plan = 20;
    const { r } = await run(f);
    assert.equal(r.ok, true);
    // Started first, it runs beside the plan (its run begins once its journal record is written).
    assert.ok(f.calls.indexOf('fence-address:start') < f.calls.indexOf('plan:end'), f.calls.join(' '));
    assert.deepEqual(starts(f).filter((c) => c !== 'fence-address').slice(0, 5), ['journal', 'plan', 'hook', 'note-winner', 'fence']);
    assert.equal(starts(f).filter((c) => c === 'fence-address').length, 1, 'one fence of the address');
  });

  it('background steps: salvage fetch beside reread and drain; promote waits for the fence kill; salvage apply before the attach', async () => {
    const f = new FakeFailover();
    f.salvageOn = true;
    f.killWanted = true;
    f.slow['fence-kill'] = 40;
    f.slow['salvage-fetch'] = 20;
    const { r } = await run(f);
    assert.equal(r.ok, true);
    const at = (c: string) => f.calls.indexOf(c);
    assert.ok(at('salvage-fetch:start') < at('reread:start') && at('salvage-fetch:end') > at('reread:start'), f.calls.join(' '));
    assert.ok(at('fence-kill:end') < at('promote:start'), 'the promotion waits for the fence kill');
    assert.ok(at('drain:start') < at('fence-kill:end'), 'the drain runs beside the fence kill');
    assert.ok(at('salvage-apply:end') < at('attach:start'), 'the address waits for the salvage');
  });

  it('semi-sync: the salvage and the attach wait for one survivor to be repointed; verify waits for the repoint', async () => {
    const f = new FakeFailover();
    f.salvageOn = true;
    f.waitsForReplica = true;
    f.slow.repoint = 30;
    const { r } = await run(f);
    assert.equal(r.ok, true);
    const at = (c: string) => f.calls.indexOf(c);
    assert.ok(at('one-repointed') > at('repoint:end') && at('one-repointed') < at('salvage-apply:start'), f.calls.join(' '));
    assert.ok(at('verify:start') > at('repoint:end'));
  });

  it('without semi-sync the address does not wait for the survivors: attach ends while a slow repoint still runs', async () => {
    const f = new FakeFailover();
    f.slow.repoint = 50;
    const { r } = await run(f);
    assert.equal(r.ok, true);
    assert.ok(f.calls.indexOf('attach:end') < f.calls.indexOf('repoint:end'), f.calls.join(' '));
    assert.ok(f.calls.indexOf('verify:end') > f.calls.indexOf('repoint:end'), 'every background step is awaited before the run ends');
  });

  it('catch-ups: one step per source; a source that cannot serve elects again and the new winner\'s catch-ups follow', async () => {
    const f = new FakeFailover();
    f.catchUps = ['db3', 'db4'];
    f.cannotServe.add('db3');
    f.again = ['db4', 'db5'];
    const { r, ends } = await run(f);
    assert.equal(r.ok, true);
    assert.deepEqual(starts(f).filter((c) => c.startsWith('catch-up')), ['catch-up db3', 'catch-up db4', 'catch-up db5']);
    assert.deepEqual(ends.filter((e) => e.startsWith('catch-up')), ['catch-up:skipped', 'catch-up:ok', 'catch-up:ok']);
    assert.ok(starts(f).indexOf('catch-up db5') < starts(f).indexOf('promote'));
  });

  it('a failure before the promotion undoes the freeze (replication restarted); the fences stay; nothing after it runs', async () => {
    const f = new FakeFailover();
    f.fail.drain = new Error('no promotable node remains');
    const { r } = await run(f);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.at, 'drain');
    assert.ok(f.calls.includes('undo-replication'));
    assert.ok(!f.calls.some((c) => c.startsWith('address-back')), 'the address stays taken away');
    assert.ok(!f.calls.some((c) => c.startsWith('promote')));
  });

  it('a master found alive: the undo gives the address back, after restarting replication', async () => {
    const f = new FakeFailover();
    f.fail.reread = new Error('the survivors kept receiving');
    f.addressBack = true;
    const { r, ends } = await run(f);
    assert.equal(r.ok, false);
    const at = (c: string) => f.calls.indexOf(c);
    assert.ok(at('undo-replication') >= 0 && at('undo-replication') < at('address-back:start'), f.calls.join(' '));
    assert.ok(ends.includes('attach:ok'), 'the address back is recorded as an attach');
  });

  it('the plan or the hook stops the list before anything is done; with the fence at the verdict, a live master gets its address back', async () => {
    for (const stopAt of ['plan', 'hook'] as const) {
      const f = new FakeFailover();
      f.stopAt = stopAt;
      const { r, journal } = await run(f);
      assert.equal(!r.ok && r.why, 'halted');
      assert.ok(!f.calls.some((c) => c.startsWith('fence') || c === 'journal'), f.calls.join(' '));
      assert.equal(journal.records.length, 0, 'no journal');
    }
    const f = new FakeFailover();
    f.fenceAtVerdict = true;
    f.stopAt = 'plan';
    f.addressBack = true;
    const { r } = await run(f);
    assert.equal(!r.ok && r.why, 'halted');
    assert.deepEqual(starts(f).sort(), ['address-back', 'fence-address', 'journal', 'plan']);
    assert.ok(f.calls.indexOf('address-back:start') > f.calls.indexOf('fence-address:end'), 'given back once the fence ended');
  });

  it('a failure after the promotion is recorded and the rest runs: no undo', async () => {
    const f = new FakeFailover();
    f.salvageOn = true;
    f.fail['salvage-apply'] = new Error('mysql client exited 1');
    f.fail.repoint = new Error('db3: STOP REPLICA timed out');
    const { r, ends } = await run(f);
    assert.equal(r.ok, true);
    assert.ok(ends.includes('salvage-apply:failed') && ends.includes('repoint:failed'), ends.join(' '));
    assert.ok(f.calls.includes('attach:end'));
    assert.ok(!f.calls.includes('undo-replication'));
  });

  it('interrupts: noticed at the next step boundary before the promotion, never after it', async () => {
    const ac = new AbortController();
    const f = new FakeFailover();
    const { r } = await run(f, { signal: ac.signal, beforeStep: (s) => (s === 'reread' ? ac.abort('heir is stopping') : undefined) });
    assert.equal(!r.ok && r.why, 'interrupted');
    assert.match(String(!r.ok && (r.error as Error).message), /interrupted before step reread: heir is stopping/);
    assert.ok(f.calls.includes('undo-replication'));
    assert.ok(!f.calls.some((c) => c.startsWith('reread')));

    const ac2 = new AbortController();
    const g = new FakeFailover();
    const r2 = await run(g, { signal: ac2.signal, beforeStep: (s) => (s === 'repoint' ? ac2.abort('heir is stopping') : undefined) });
    assert.equal(r2.r.ok, true);
    assert.ok(g.calls.includes('attach:end'));
  });
});

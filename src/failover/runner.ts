/**
 * The step runner: carries out a list of named steps over a context, the same way for every
 * operation. It does no I/O of its own; the steps do theirs through the context.
 *
 * For each step, in list order:
 *   when       a step whose condition is false is left out (no event, no record)
 *   boundary   an aborted signal stops the list here, unless a point of no return has passed
 *   after      wait for the named (background) steps; `needs`: leave the step out unless
 *              they ended ok
 *   mutates    a step that changes the cluster is first allowed by beforeMutation (manager
 *              high availability: do I still lead?); once refused, nothing more is done, not
 *              even an undo. Its start and end go into the journal (one JournalWriter, opened
 *              at the first such step), as do a `journal` step's (a decision the journal must
 *              show, though it changes nothing); `holdJournal` keeps end records back from one
 *              step to another (a write pause is not lengthened by an fsync), flushed before
 *              any undo
 *   events     start, then done or failed, with the step's own detail; the caller formats them
 *   stop       a step that throws or whose value `halts` ends the list (an `optional` one does
 *              not: its failure is recorded and the list goes on). Before the point of no
 *              return, the undos of the steps done run, newest first (and the failed step's
 *              own when it may have half happened); an undo may cover earlier ones
 *   background started and not awaited (optionally after a delay; left out when the list stops
 *              first); every started one is awaited before the run returns, and undone in
 *              its turn (by start) when it ended ok
 *   record     a step may say more of how it ended than its value does (StepApi.record): its
 *              detail, per-node results, journal data, and an outcome of 'skipped' (nothing
 *              to do) or 'failed' (recorded, yet the list goes on: a step that acts on several
 *              nodes and failed on some)
 *   resume     given an earlier run's journal, the run continues from the first step not
 *              known to be done, and skips any later one known to be done: journaled ok, or
 *              its own `done` check says so (reads are not journaled: they run again). A step
 *              in flight or failed when that run stopped is repeated only when `repeatable`;
 *              a run that was undoing is not resumed
 */
import { performance } from 'node:perf_hooks';
import type { JournalSummary, StepSummary } from './journal';
import type { JournalWriter } from './store';

export interface Undo<C> {
  /** Name in events, records and the journal (e.g. 'rollback'). */
  name: string;
  node?(c: C): string | undefined;
  /** `failedHere`: the step being undone itself failed (it may or may not have taken effect). */
  what(c: C, failedHere: boolean): string;
  run(c: C, api: StepApi): Promise<void>;
  /** Steps whose undo this one already does (they are not undone a second time). */
  covers?: string[];
  /** Left out when false (evaluated when the undo would run). */
  when?(c: C): boolean;
  /** Not narrated: no events, no journal records (the caller says what it undid). */
  quiet?: boolean;
  onError?(c: C, e: unknown): void;
}

export interface Step<C> {
  /** Unique within the list; journaled as params.id. */
  id: string;
  /** Name in events, records and the journal; several steps may share one. */
  name: string;
  node?(c: C): string | undefined;
  /** What the step does, in one line (the start event). */
  what(c: C): string;
  run(c: C, api: StepApi): Promise<unknown>;
  /** The end event's detail for the step's value; `what` when absent. */
  detail?(c: C, value: unknown): string;
  /** Journaled with the start (what a rerun must know of how the step began). */
  params?(c: C): Record<string, unknown>;
  /** Journaled with the end, and in the done event (what a rerun must know of its result). */
  data?(c: C, value: unknown): Record<string, unknown> | undefined;
  when?(c: C): boolean;
  /** Changes the cluster: asked of beforeMutation and journaled. */
  mutates?: boolean;
  /** Journaled although it changes nothing (a decision the journal must show); not asked of beforeMutation. */
  journal?: boolean;
  /** Running it a second time does no harm (resume may repeat one that was in flight). */
  repeatable: boolean;
  /** Resume: did an earlier run already do this? `rec` is the journal's last record of the step. */
  done?(c: C, rec: StepSummary | undefined): Promise<boolean>;
  /** How to undo it while the point of no return has not passed. */
  undo?: Undo<C>;
  /** The step may have taken effect although it failed: its own undo runs too. */
  undoOnFailure?: boolean;
  /** Once this step has succeeded nothing is undone and interrupts wait for the end. */
  pointOfNoReturn?: boolean;
  background?: boolean;
  /** Background: start after this many ms (undefined: at once). */
  delayMs?(c: C): number | undefined;
  /** Wait for these steps (whatever their outcome); a function when it depends on the context. */
  after?: string[] | ((c: C) => string[]);
  /** Left out unless these steps ended ok (waited for like `after`). */
  needs?: string[] | ((c: C) => string[]);
  /** A failure is recorded (onError) and the list goes on. */
  optional?: boolean;
  onError?(c: C, e: unknown): void;
  /** The value means "stop here" (a bounded wait that ran out): the step is done, the list stops. */
  halts?(c: C, value: unknown): boolean;
  /** Journal end records are held back from this step's start ('begin') until after this step ('end'). */
  holdJournal?: 'begin' | 'end';
  /** Not narrated: no events, no record, no journal (a read or a decision inside the story). */
  quiet?: boolean;
  /** false: an aborted signal is not noticed before this step, only at the next one. */
  boundary?: boolean;
}

/** What a step says of how it ended, beyond its value (see StepApi.record). */
export interface StepNote {
  detail?: string;
  /** 'skipped': it found nothing to do; 'failed': it failed in part and the list goes on. */
  outcome?: 'skipped' | 'failed';
  error?: string;
  nodes?: { node: string; ok: boolean; detail: string; durationMs: number }[];
  /** Journaled with the end, instead of Step.data. */
  data?: Record<string, unknown>;
}

/** What a running step may use besides its context. */
export interface StepApi {
  /** Aborted when the list stops (a background step still waiting gives up). */
  signal: AbortSignal;
  /** Journal something a rerun must know even if the process dies before the step ends. */
  progress(data: Record<string, unknown>): Promise<void>;
  /** Filled by the step as it goes: read when it ends, whether it returns or throws. */
  record: StepNote;
}

export type StepOutcome = 'ok' | 'failed' | 'halted' | 'skipped';

export interface StepEvent {
  id: string;
  name: string;
  node?: string;
  phase: 'start' | 'done' | 'failed';
  /** performance.now() when the step started. */
  startedAt: number;
  durationMs?: number;
  detail: string;
  /** failed: the error's message. */
  error?: string;
  /** done: the step's data (Step.data). */
  data?: Record<string, unknown>;
  /** start: the step's params (as journaled). */
  params?: Record<string, unknown>;
  /** done and failed: what the step recorded (StepApi.record); done: its outcome. */
  note?: StepNote;
  outcome?: 'ok' | 'skipped' | 'failed';
}

export interface RunnerOptions {
  onEvent?(e: StepEvent): void;
  /** Opened at the first step that changes the cluster. */
  openJournal?(): Promise<JournalWriter | undefined>;
  /** A journal write that fails: given, the step goes on (reported here); absent, the step fails. */
  onJournalError?(e: unknown): void;
  beforeMutation?(what: string): Promise<void>;
  /** Before each narrated step, before the boundary (a test's hook); a throw stops the list there. */
  beforeStep?(name: string): void | Promise<void>;
  /** Label for beforeMutation: "step <name> of <operation>". */
  operation: string;
  signal?: AbortSignal;
}

export type RunResult =
  | { ok: true; outcomes: Map<string, StepOutcome> }
  | {
      ok: false;
      /** The step the list stopped at. */
      at: string;
      why: 'failed' | 'halted' | 'interrupted' | 'not-resumable';
      error?: unknown;
      outcomes: Map<string, StepOutcome>;
      /** Undos that ran (step ids) and those that failed. */
      undone: string[];
      undoFailed: string[];
      /** The beforeMutation check refused (nothing more was done, no undo). */
      mayNotAct?: string;
    };

export class Interrupted extends Error {
  constructor(readonly before: string, reason: string) {
    super(`interrupted before step ${before}: ${reason}`);
  }
}

export function abortReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  if (typeof r === 'string' && r) return r;
  if (r instanceof Error && r.name !== 'AbortError' && r.message) return r.message;
  return 'stop requested';
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The journal's last record of a step: by params.id, else by name for a step that is the only one of its name. */
export function journaled<C>(j: JournalSummary | undefined, s: Step<C>, unique: boolean): StepSummary | undefined {
  if (!j) return undefined;
  const rs = j.steps.filter((r) => (r.params?.id !== undefined ? r.params.id === s.id : unique && r.step === s.name));
  return rs.at(-1);
}

export class Runner<C> {
  /** Opened once, at the first journaled write (a background step's and the next step's may race for it). */
  private journal?: Promise<JournalWriter | undefined>;
  private held = false;
  private readonly queue: (() => Promise<void>)[] = [];
  private mayNotAct?: string;
  private noReturn = false;
  private readonly outcomes = new Map<string, StepOutcome>();
  private readonly running = new Map<string, Promise<StepOutcome>>();
  private readonly stop = new AbortController();

  constructor(private readonly o: RunnerOptions) {}

  /** Run the list; `resume`: the journal of an earlier, unfinished run of the same list. */
  async run(steps: Step<C>[], c: C, resume?: JournalSummary): Promise<RunResult> {
    const done: Step<C>[] = [];
    const names = new Map<string, number>();
    for (const s of steps) names.set(s.name, (names.get(s.name) ?? 0) + 1);
    if (resume) {
      const undoing = resume.steps.find((r) => typeof r.params?.id === 'string' && r.params.id.startsWith('undo:'));
      if (undoing) {
        return this.result(String(undoing.params!.id).slice(5), 'not-resumable', new Error(`the earlier run was undoing its steps (${undoing.step}): it did not go forward, and a person decides what is next`), []);
      }
    }
    for (const s of steps) {
      // A step left out is no boundary: an interrupt names the next step that would run.
      if (s.when && !s.when(c)) {
        this.outcomes.set(s.id, 'skipped');
        continue;
      }
      if (this.o.beforeStep && !s.quiet) {
        try {
          await this.o.beforeStep(s.name);
        } catch (e) {
          return this.stopAt(s, 'failed', e, c, done, false);
        }
      }
      if (this.o.signal?.aborted && !this.noReturn && s.boundary !== false) {
        const e = new Interrupted(s.name, abortReason(this.o.signal));
        return this.stopAt(s, 'interrupted', e, c, done, false);
      }
      if (resume) {
        const rec = journaled(resume, s, names.get(s.name) === 1);
        if (rec?.outcome === 'ok' || (s.done && (await s.done(c, rec)))) {
          this.outcomes.set(s.id, 'ok');
          if (s.pointOfNoReturn) this.noReturn = true;
          done.push(s);
          continue;
        }
        if ((rec?.outcome === 'running' || rec?.outcome === 'failed') && !s.repeatable) {
          const why = `step ${s.name} was ${rec.outcome === 'running' ? 'in flight' : 'failed'} when the earlier run stopped, may have taken effect, and is not safe to repeat`;
          return this.result(s.id, 'not-resumable', new Error(why), []);
        }
      }
      if (s.background) {
        this.running.set(s.id, this.background(s, c));
        // Undone, when the list stops, like a step that ran in line (once it ended ok).
        done.push(s);
        continue;
      }
      const out = await this.one(s, c);
      // A halted step did what it does (its value says stop): it is undone like one that is ok.
      if (out.outcome === 'ok' || out.outcome === 'halted') done.push(s);
      if (out.outcome === 'ok' || out.outcome === 'skipped' || s.optional) continue;
      return this.stopAt(s, out.outcome === 'halted' ? 'halted' : 'failed', out.error, c, done, out.outcome === 'failed');
    }
    await this.settle();
    await this.flush();
    return { ok: true, outcomes: this.outcomes };
  }

  private async waitFor(s: Step<C>, c: C): Promise<boolean> {
    const list = (v: Step<C>['after']) => (typeof v === 'function' ? v(c) : (v ?? []));
    const needs = list(s.needs);
    await Promise.all([...list(s.after), ...needs].map((id) => this.running.get(id)));
    return needs.every((id) => this.outcomes.get(id) === 'ok');
  }

  private async background(s: Step<C>, c: C): Promise<StepOutcome> {
    const delay = s.delayMs?.(c);
    if (delay !== undefined) {
      const started = await new Promise<boolean>((resolve) => {
        if (this.stop.signal.aborted) return resolve(false);
        const t = setTimeout(() => resolve(true), delay);
        this.stop.signal.addEventListener('abort', () => {
          clearTimeout(t);
          resolve(false);
        }, { once: true });
      });
      if (!started) {
        this.outcomes.set(s.id, 'skipped');
        return 'skipped';
      }
    }
    return (await this.one(s, c)).outcome;
  }

  /** One step: wait, check, journal, run, journal, events. Never throws. */
  private async one(s: Step<C>, c: C): Promise<{ outcome: StepOutcome; error?: unknown }> {
    if (!(await this.waitFor(s, c))) {
      this.outcomes.set(s.id, 'skipped');
      return { outcome: 'skipped' };
    }
    const r = await this.exec({
      id: s.id, name: s.name, node: s.node?.(c), what: s.what(c), mutates: !!s.mutates, journal: !!s.journal, quiet: !!s.quiet, hold: s.holdJournal,
      params: s.params?.(c), run: (api) => s.run(c, api), detail: (v) => (s.detail ? s.detail(c, v) : s.what(c)), data: (v) => s.data?.(c, v),
    });
    const outcome: StepOutcome = r.ok ? (s.halts?.(c, r.value) ? 'halted' : 'ok') : 'failed';
    if (!r.ok) {
      try {
        s.onError?.(c, r.error);
      } catch {
        /* a broken error note never stops the run */
      }
    }
    if (outcome === 'ok' && s.pointOfNoReturn) this.noReturn = true;
    this.outcomes.set(s.id, outcome);
    return { outcome, error: r.ok ? undefined : r.error };
  }

  private async exec(x: {
    id: string; name: string; node: string | undefined; what: string; mutates: boolean; journal?: boolean; quiet: boolean; hold?: 'begin' | 'end';
    params?: Record<string, unknown>; run: (api: StepApi) => Promise<unknown>; detail: (v: unknown) => string; data?: (v: unknown) => Record<string, unknown> | undefined;
  }): Promise<{ ok: true; value: unknown } | { ok: false; error: unknown }> {
    const startedAt = performance.now();
    const emit = (e: Omit<StepEvent, 'id' | 'name' | 'node' | 'startedAt'>) => {
      if (x.quiet) return;
      try {
        this.o.onEvent?.({ id: x.id, name: x.name, ...(x.node !== undefined ? { node: x.node } : {}), startedAt, ...e });
      } catch {
        /* a broken progress printer never stops an operation */
      }
    };
    const dur = () => Math.round((performance.now() - startedAt) * 10) / 10;
    emit({ phase: 'start', detail: x.what, ...(x.params ? { params: x.params } : {}) });
    const journaling = (x.mutates || !!x.journal) && !x.quiet;
    const note: StepNote = {};
    const api: StepApi = {
      signal: this.stop.signal,
      // Durable before the step goes on: never held back.
      progress: async (data) => {
        if (journaling) await this.write((j) => j.progress(x.name, data), true);
      },
      record: note,
    };
    try {
      if (x.mutates) {
        if (this.mayNotAct) throw new Error(`not performed: ${this.mayNotAct}`);
        try {
          await this.o.beforeMutation?.(`step ${x.name} of ${this.o.operation}`);
        } catch (e) {
          this.mayNotAct = errText(e);
          throw e;
        }
      }
      if (x.hold === 'begin') this.held = true;
      if (journaling) await this.write((j) => j.stepStart(x.name, { ...x.params, id: x.id, detail: x.what }), true);
      const v = await x.run(api);
      const d = note.detail ?? x.detail(v);
      const data = note.data ?? x.data?.(v);
      const outcome = note.outcome ?? 'ok';
      emit({ phase: 'done', durationMs: dur(), detail: d, ...(data ? { data } : {}), note, outcome });
      if (journaling) await this.write((j) => j.stepEnd(x.name, outcome, d, note.error, data));
      return { ok: true, value: v };
    } catch (e) {
      const d = note.detail || `${x.what}: ${errText(e)}`;
      emit({ phase: 'failed', durationMs: dur(), detail: d, error: errText(e), note });
      if (journaling) await this.write((j) => j.stepEnd(x.name, 'failed', d, errText(e)));
      return { ok: false, error: e };
    } finally {
      if (x.hold === 'end') await this.flush();
    }
  }

  /** A journal record; end records wait while held. */
  private async write(w: (j: JournalWriter) => Promise<void>, start = false): Promise<void> {
    if (this.held && !start) {
      this.queue.push(() => this.write(w));
      return;
    }
    try {
      this.journal ??= Promise.resolve(this.o.openJournal?.());
      const j = await this.journal;
      if (j) await w(j);
    } catch (e) {
      if (!this.o.onJournalError) throw e;
      this.o.onJournalError(e);
    }
  }

  private async flush(): Promise<void> {
    this.held = false;
    for (const w of this.queue.splice(0)) await w();
  }

  private async settle(): Promise<void> {
    while (true) {
      const pending = [...this.running.values()];
      await Promise.all(pending);
      if (pending.length === this.running.size) return;
    }
  }

  private async stopAt(s: Step<C>, why: 'failed' | 'halted' | 'interrupted', error: unknown, c: C, done: Step<C>[], failedHere: boolean): Promise<RunResult> {
    this.stop.abort();
    await this.settle();
    await this.flush();
    const undone: string[] = [];
    const undoFailed: string[] = [];
    if (!this.noReturn && !this.mayNotAct) {
      const todo: [Step<C>, boolean][] = [...done.filter((d) => this.outcomes.get(d.id) === 'ok' || this.outcomes.get(d.id) === 'halted').reverse().map((d): [Step<C>, boolean] => [d, false])];
      if (failedHere && s.undoOnFailure) todo.unshift([s, true]);
      const covered = new Set<string>();
      for (const [d, failed] of todo) {
        if (!d.undo || covered.has(d.id)) continue;
        const u = d.undo;
        if (u.when && !u.when(c)) continue;
        for (const x of u.covers ?? []) covered.add(x);
        const what = u.what(c, failed);
        const r = await this.exec({ id: `undo:${d.id}`, name: u.name, node: u.node?.(c), what, mutates: true, quiet: !!u.quiet, run: (api) => u.run(c, api), detail: () => what });
        if (r.ok) undone.push(d.id);
        else {
          undoFailed.push(d.id);
          try {
            u.onError?.(c, r.error);
          } catch {
            /* ignore */
          }
        }
      }
    }
    return this.result(s.id, why, error, undone, undoFailed);
  }

  private result(at: string, why: 'failed' | 'halted' | 'interrupted' | 'not-resumable', error: unknown, undone: string[], undoFailed: string[] = []): RunResult {
    return { ok: false, at, why, error, outcomes: this.outcomes, undone, undoFailed, ...(this.mayNotAct ? { mayNotAct: this.mayNotAct } : {}) };
  }
}

/**
 * An in-memory journal for the step runner's unit tests: the records a JournalWriter
 * would write, and a process that "dies" once a given number of them is written (every
 * later write, and every fake I/O call that asks, never returns).
 */
import type { JournalRecord, Operation } from '../../src/failover/journal';
import type { JournalWriter } from '../../src/failover/store';

export const never = <T>() => new Promise<T>(() => {});

export /** An in-memory journal; `dieAfter`: the process "dies" once that many records are written. */
class MemJournal {
  records: JournalRecord[] = [];
  dead = false;
  died!: () => void;
  readonly death = new Promise<void>((r) => (this.died = r));
  constructor(private readonly dieAfter = Infinity) {}
  private async put(r: JournalRecord): Promise<void> {
    if (this.dead) return never();
    this.records.push(r);
    if (this.records.length >= this.dieAfter) {
      this.dead = true;
      this.died();
    }
  }
  writer(detail: Record<string, unknown>, operation: Operation = 'switchover'): JournalWriter {
    const at = new Date().toISOString();
    void this.put({ type: 'begin', at, id: 'op1', operation, cluster: 'c1', pid: 1, detail });
    return {
      id: 'op1',
      stepStart: (step, params) => this.put({ type: 'step-start', at, step, params }),
      stepEnd: (step, outcome, d, error, data) => this.put({ type: 'step-end', at, step, outcome, detail: d, error, data }),
      progress: (step, data) => this.put({ type: 'step-progress', at, step, data }),
      note: (text) => this.put({ type: 'note', at, text }),
      end: (outcome, summary) => this.put({ type: 'end', at, outcome, summary }),
    };
  }
}

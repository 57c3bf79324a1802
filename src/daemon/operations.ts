/**
 * Long actions of the API (switchover, failover) as operation resources: a POST answers
 * 202 Accepted at once with the operation, and GET /api/v1/operations/{id} follows it —
 * its state (running, succeeded, failed), the steps so far as the executor reports them,
 * and, once done, the result and the report.
 *
 * Operations live in the daemon's memory (the most recent MAX_KEPT); what outlives the
 * daemon is the report in the state directory, which each finished operation names.
 */
import { randomUUID } from 'node:crypto';

export type OperationState = 'running' | 'succeeded' | 'failed';

/** One step as the executor reported it (a failover reports steps when they end). */
export interface OperationStep {
  name: string;
  outcome: 'running' | 'ok' | 'failed' | 'skipped';
  node?: string;
  startedAt?: string;
  durationMs?: number;
  detail: string;
}

export interface Operation {
  id: string;
  kind: 'switchover' | 'failover';
  cluster: string;
  state: OperationState;
  /** The request's body, as accepted. */
  request: Record<string, unknown>;
  requestedBy: string;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  steps: OperationStep[];
  /** When done: ok, message, outcome and the operation's own fields (ids, masters, report path). */
  result: Record<string, unknown> | null;
  /** When done: the failover or switchover report. */
  report: object | null;
  /** When it failed without a result (an unexpected error). */
  error: { code: string; message: string } | null;
}

const MAX_KEPT = 200;

export class OperationStore {
  private readonly ops = new Map<string, Operation>();

  create(kind: Operation['kind'], cluster: string, request: Record<string, unknown>, requestedBy: string): Operation {
    const now = new Date().toISOString();
    const op: Operation = {
      id: randomUUID(),
      kind,
      cluster,
      state: 'running',
      request,
      requestedBy,
      createdAt: now,
      updatedAt: now,
      finishedAt: null,
      steps: [],
      result: null,
      report: null,
      error: null,
    };
    this.ops.set(op.id, op);
    // The oldest finished ones go first; running ones are kept.
    for (const [id, o] of this.ops) {
      if (this.ops.size <= MAX_KEPT) break;
      if (o.state !== 'running') this.ops.delete(id);
    }
    return op;
  }

  get(id: string): Operation | undefined {
    return this.ops.get(id);
  }

  /** Forget an operation that never started (refused before it began: an error answered instead). */
  drop(id: string): void {
    this.ops.delete(id);
  }

  /** A step began or ended: a running record of the same name (and node) is replaced. */
  step(op: Operation, s: OperationStep): void {
    const i = op.steps.findIndex((x) => x.outcome === 'running' && x.name === s.name && x.node === s.node);
    if (i >= 0) op.steps[i] = s;
    else op.steps.push(s);
    op.updatedAt = new Date().toISOString();
  }

  finish(op: Operation, result: { ok: boolean; report?: unknown; [k: string]: unknown }): void {
    const { report, ...rest } = result;
    const now = new Date().toISOString();
    op.state = result.ok ? 'succeeded' : 'failed';
    op.result = rest;
    op.report = report && typeof report === 'object' ? report : null;
    op.updatedAt = now;
    op.finishedAt = now;
  }

  fail(op: Operation, error: { code: string; message: string }): void {
    const now = new Date().toISOString();
    op.state = 'failed';
    op.error = error;
    op.updatedAt = now;
    op.finishedAt = now;
  }
}

/**
 * The sandbox's application: one client that commits rows, one at a time,
 * through the floating address, as an application would. It records every id
 * the server acknowledged (autocommit INSERT returned OK), on which server
 * (@@server_id of the connection), and when. A failed attempt's id is never
 * reused and never counted as acknowledged: it may or may not have committed.
 *
 * It connects as a plain application account (no SUPER, no CONNECTION_ADMIN),
 * so read_only on a replica or a fenced old master refuses its writes.
 */
import { performance } from 'node:perf_hooks';
import { Conn } from '../../src/mysql/conn';

export const APP = { user: 'sandbox_app', password: 'sandbox-app-pw', schema: 'sandbox', table: 'sandbox.writes' };

/** Statements that create the application's schema and account (run on the master; they replicate). */
export function appSetupSql(): string[] {
  return [
    `CREATE DATABASE IF NOT EXISTS ${APP.schema}`,
    `CREATE TABLE IF NOT EXISTS ${APP.table} (id BIGINT NOT NULL PRIMARY KEY, written_at DATETIME(6) NOT NULL) ENGINE=InnoDB`,
    `CREATE USER IF NOT EXISTS '${APP.user}'@'%' IDENTIFIED BY '${APP.password}'`,
    `GRANT SELECT, INSERT ON ${APP.schema}.* TO '${APP.user}'@'%'`,
  ];
}

export interface Ack {
  id: number;
  /** performance.now() when the OK arrived. */
  at: number;
  serverId: number;
}

export interface WriterEvent {
  kind: 'connected' | 'failed' | 'resumed';
  at: number;
  serverId?: number;
  error?: string;
  /** resumed: failed attempts since the last acknowledged write. */
  failures?: number;
}

export class Writer {
  readonly acks: Ack[] = [];
  failures = 0;
  private nextId = 1;
  private running = false;
  private loop: Promise<void> | null = null;
  private conn: Conn | null = null;
  private serverId = 0;
  private failingSince: number | null = null;
  private failuresInRun = 0;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly onEvent: (e: WriterEvent) => void = () => {},
    /** Pause after each acknowledged commit (ms), or a function of the number acknowledged so far (bursts). */
    private readonly pauseMs: number | ((acked: number) => number) = 5,
    /** First id to write (several writers on one table use disjoint ranges). */
    firstId = 1,
    /** Rows per transaction: above 1, BEGIN, one INSERT per row, COMMIT; every row acknowledged at the COMMIT's OK. */
    private readonly rowsPerTx = 1,
  ) {
    this.nextId = firstId;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    this.loop = null;
    const c = this.conn;
    this.conn = null;
    if (c) await c.close().catch(() => c.destroy());
  }

  /** The highest id ever attempted (acknowledged or not); no row may have a higher one. */
  maxAttemptedId(): number {
    return this.nextId - 1;
  }

  /** Acknowledged ids. */
  ackedIds(): number[] {
    return this.acks.map((a) => a.id);
  }

  /** First acknowledgement at or after time t (performance.now()). */
  firstAckAfter(t: number, serverId?: number): Ack | undefined {
    return this.acks.find((a) => a.at >= t && (serverId === undefined || a.serverId === serverId));
  }

  /** Longest time between two consecutive acknowledgements within [from, to]. */
  longestGap(from: number, to: number): number {
    let prev = from;
    let gap = 0;
    for (const a of this.acks) {
      if (a.at < from) continue;
      if (a.at > to) break;
      gap = Math.max(gap, a.at - prev);
      prev = a.at;
    }
    return gap;
  }

  private async connect(): Promise<Conn> {
    const c = await Conn.open({
      name: `writer via ${this.host}`,
      host: this.host,
      port: this.port,
      user: APP.user,
      password: APP.password,
      connectTimeoutMs: 500,
      queryTimeoutMs: 1000,
    });
    const [row] = await c.query<{ id: unknown }>('SELECT @@server_id AS id');
    this.serverId = Number(row?.id);
    this.onEvent({ kind: 'connected', at: performance.now(), serverId: this.serverId });
    return c;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const ids: number[] = [];
      for (let k = 0; k < this.rowsPerTx; k++) ids.push(this.nextId++);
      try {
        if (!this.conn) this.conn = await this.connect();
        if (ids.length === 1) await this.conn.exec(`INSERT INTO ${APP.table} (id, written_at) VALUES (${ids[0]}, NOW(6))`);
        else {
          await this.conn.exec('BEGIN');
          for (const id of ids) await this.conn.exec(`INSERT INTO ${APP.table} (id, written_at) VALUES (${id}, NOW(6))`);
          await this.conn.exec('COMMIT');
        }
        const at = performance.now();
        for (const id of ids) this.acks.push({ id, at, serverId: this.serverId });
        if (this.failingSince !== null) {
          this.onEvent({ kind: 'resumed', at, serverId: this.serverId, failures: this.failuresInRun });
          this.failingSince = null;
          this.failuresInRun = 0;
        }
        const pause = typeof this.pauseMs === 'number' ? this.pauseMs : this.pauseMs(this.acks.length);
        if (pause > 0) await sleep(pause);
      } catch (e) {
        this.failures++;
        this.failuresInRun++;
        const c = this.conn;
        this.conn = null;
        c?.destroy();
        if (this.failingSince === null) {
          this.failingSince = performance.now();
          this.onEvent({ kind: 'failed', at: this.failingSince, error: shortError(e) });
        }
        await sleep(20);
      }
    }
  }
}

function shortError(e: unknown): string {
  const err = e as { code?: string; message?: string };
  const msg = String(err?.message ?? e).split('\n')[0]!;
  return err?.code && !msg.includes(err.code) ? `${err.code}: ${msg}` : msg;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * OldMasterWatch: after a failover, the old master is read every second until it is a
 * replica of the current master again; while it does not answer, every 200 ms, so that a
 * restarted mysqld that comes back writable is fenced within a fraction of a second.
 * Whenever it answers writable (restarted by systemd, resumed after SIGSTOP, a hung host
 * coming back) it is fenced at once: read_only and
 * super_read_only, persisted where the server can (SET PERSIST), and the people on call
 * are told (master.fenced). With failover.auto_rejoin, a fenced old master is handed to the
 * runtime's automatic rejoin. The decision is decideOldMaster (decide.ts); this is the I/O.
 */
import type { ClusterConfig, NodeConfig } from '../config/schema';
import { Conn, connOptions } from '../mysql/conn';
import { readNode } from '../mysql/inspect';
import { fenceReadOnly } from '../mysql/ops';
import type { Logger } from '../util/log';
import { decideOldMaster } from './decide';

export interface OldMasterWatchOptions {
  log: Logger;
  /** The cluster's master now (the monitor's). */
  currentMaster: () => string | null;
  /** The old master was found writable and fenced (or the fence failed: ok false). */
  onFenced: (e: { node: string; ok: boolean; why: string; detail: string }) => void;
  /**
   * failover.auto_rejoin: the node answers fenced; make it a replica of the master if heir
   * rejoin's decision allows (the runtime decides when and how; see ClusterRuntime.autoRejoin).
   */
  rejoin?: (node: string) => Promise<void>;
  /** The watch ended (rejoined, master again, stopped). */
  onDone?: (node: string, why: string) => void;
  everyMs?: number;
  /** Between reads while it does not answer (default 200 ms). */
  downEveryMs?: number;
}

export class OldMasterWatch {
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private stopped = false;

  constructor(
    private readonly cluster: ClusterConfig,
    readonly node: string,
    private readonly o: OldMasterWatchOptions,
  ) {}

  start(): void {
    if (this.timer || this.busy || this.stopped) return;
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** One read, then the next after everyMs, or downEveryMs when it did not answer. */
  private async tick(): Promise<void> {
    this.timer = null;
    if (this.busy || this.stopped) return;
    this.busy = true;
    let answered = true;
    try {
      answered = await this.read();
    } finally {
      this.busy = false;
      if (!this.stopped) {
        this.timer = setTimeout(() => void this.tick(), answered ? (this.o.everyMs ?? 1000) : (this.o.downEveryMs ?? 200));
        this.timer.unref();
      }
    }
  }

  /** Reads the old master and acts on what it says; false when it did not answer. */
  private async read(): Promise<boolean> {
    const cfg = this.cluster.nodes.find((n) => n.name === this.node);
    if (!cfg) {
      this.stop();
      return true;
    }
    // First one connection and one question: a writable old master is fenced on that same
    // connection at once. While the server is stopped (SIGSTOP, a hung host) this connect
    // waits in its accept queue and is served as soon as the server resumes; when that queue
    // is already full (clients reconnecting to the hung server), the kernel drops the attempt
    // and resends it a second later.
    let fencedNow = false;
    if (this.o.currentMaster() !== this.node) {
      let c: Conn | null = null;
      try {
        c = await Conn.open(connOptions(this.cluster, cfg));
        const [r] = await c.query('SELECT @@global.read_only AS ro');
        if (!this.stopped && Number(r?.ro) === 0 && this.o.currentMaster() !== this.node) {
          fencedNow = true;
          await this.fence(cfg, `${this.node} answers writable (read_only=0) while ${this.o.currentMaster() ?? 'another node'} is the master`, c);
        }
      } catch {
        // It does not answer (or went away at once): nothing to decide until it does.
        if (!fencedNow) return false;
      } finally {
        c?.destroy();
      }
    }
    if (this.stopped) return true;
    const snap = await readNode(this.cluster, cfg);
    if (this.stopped) return true;
    const d = decideOldMaster(this.cluster, snap, this.o.currentMaster());
    if (d.action === 'done') {
      this.stop();
      this.o.log.info({ node: this.node }, `no longer watching the old master ${this.node}: ${d.why}`);
      this.o.onDone?.(this.node, d.why);
      return true;
    }
    if (d.action === 'rejoin') {
      await this.o.rejoin?.(this.node);
      return true;
    }
    if (d.action === 'fence' && !fencedNow) await this.fence(cfg, d.why);
    return snap.reachable;
  }

  /** Make the node read-only (persisted where possible) on `conn`, or on a connection of its own, and say how it went. */
  private async fence(cfg: NodeConfig, why: string, conn?: Conn): Promise<void> {
    let c: Conn | null = conn ?? null;
    try {
      c ??= await Conn.open(connOptions(this.cluster, cfg));
      const r = await fenceReadOnly(c);
      this.o.onFenced({ node: this.node, ok: true, why, detail: `${this.node} is read-only again (super_read_only where supported), ${r.persisted}` });
    } catch (e) {
      this.o.onFenced({ node: this.node, ok: false, why, detail: `could not make ${this.node} read-only: ${(e as Error).message}` });
    } finally {
      if (!conn) c?.destroy();
    }
  }
}

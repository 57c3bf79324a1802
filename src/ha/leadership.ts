/**
 * Per-cluster leadership on an etcd lease, and the fenced write.
 *
 * Each manager campaigns for every cluster it watches: it holds a lease of lease_ttl_s
 * (renewed every third of it) and tries to create `<prefix>clusters/<cluster>/leader`
 * bound to that lease, only when the key does not exist. The manager that created it
 * leads until its lease ends (revoked on resign, expired when not renewed: process gone,
 * paused or cut off from etcd); etcd then deletes the key and the next contender creates
 * it. The key's create revision is the leader's fencing token.
 *
 * `fenced()` records a mutation in the same etcd transaction that compares the leadership
 * key's create revision with the token: a manager whose lease expired (even one that does
 * not know it yet, resumed after a pause) cannot record one more action.
 */
import { EventEmitter } from 'node:events';
import type { Lease, Watcher } from 'etcd3';
import type { HaSettings } from '../config/schema';
import { mayMutate, type LeadershipState, type MasterView, type MayMutate } from './decide';
import { connectEtcd, errorText, NotLeaderError, StoreConflictError, StoreUnavailableError, type EtcdHandle } from './etcd';

/** Key layout under heir.ha.prefix. */
export function haKeys(prefix: string) {
  const c = (cluster: string) => `${prefix}clusters/${cluster}/`;
  return {
    cluster: c,
    leader: (cluster: string) => `${c(cluster)}leader`,
    views: (cluster: string) => `${c(cluster)}views/`,
    view: (cluster: string, manager: string) => `${c(cluster)}views/${manager}`,
    lock: (cluster: string) => `${c(cluster)}lock`,
    failoverState: (cluster: string) => `${c(cluster)}failover-state`,
    journals: (cluster: string) => `${c(cluster)}journals/`,
    journal: (cluster: string, name: string) => `${c(cluster)}journals/${name}/`,
    /** The index of reports: `<id>/<kind>` under it (report-index.ts). */
    reports: (cluster: string) => `${c(cluster)}reports/`,
    manager: (manager: string) => `${prefix}managers/${manager}`,
  };
}
export type HaKeys = ReturnType<typeof haKeys>;

/** One write of a fenced transaction. `ifAbsent`: only when the key does not exist yet (a record is never overwritten). */
export type FencedOp = { type: 'put'; key: string; value: string; ifAbsent?: boolean } | { type: 'delete'; key: string };

const monotonic = () => performance.now();

export interface LeaderRecord {
  manager: string;
  since: string;
}

/**
 * Leadership of one cluster. Events: 'elected' (this manager leads), 'lost' (reason: it no
 * longer does), 'leader' (the manager that leads, or undefined), 'unavailable' (reason: etcd
 * did not answer the campaign).
 */
export class ClusterLeadership extends EventEmitter {
  private st: LeadershipState = { role: 'unknown', why: 'campaign not started' };
  private stopped = false;
  private lease?: Lease;
  private wake?: () => void;
  private loopDone?: Promise<void>;
  private readonly key: string;
  /** The leadership record as last read or written: who leads and since when. */
  private record?: LeaderRecord;

  constructor(
    private readonly h: EtcdHandle,
    readonly cluster: string,
    readonly manager: string,
    readonly ttlS: number,
    keys: HaKeys,
  ) {
    super();
    this.key = keys.leader(cluster);
  }

  get leaderKey(): string {
    return this.key;
  }

  state(): LeadershipState {
    return this.st;
  }

  /** Who leads and since when, as last seen (undefined when nobody leads or etcd did not answer). */
  leaderRecord(): LeaderRecord | undefined {
    return this.st.role === 'unknown' ? undefined : this.record;
  }

  /** May this manager perform a mutating action on the cluster now (its own knowledge of the lease)? */
  mayMutate(now = monotonic()): MayMutate {
    return mayMutate({ cluster: this.cluster, manager: this.manager, state: this.st, ttlMs: this.ttlS * 1000, now });
  }

  start(): this {
    this.loopDone ??= this.loop();
    return this;
  }

  /** Resolves when this manager leads (or rejects after timeoutMs). */
  waitElected(timeoutMs: number): Promise<void> {
    if (this.st.role === 'leader') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.off('elected', on);
        reject(new Error(`${this.manager} not elected leader of ${this.cluster} within ${timeoutMs} ms`));
      }, timeoutMs);
      const on = () => {
        clearTimeout(t);
        resolve();
      };
      this.once('elected', on);
    });
  }

  /**
   * Record `ops` only while this manager leads: one etcd transaction comparing the leadership
   * key's create revision with this manager's token (and, for ifAbsent puts, that their keys
   * do not exist). Throws NotLeaderError or StoreConflictError (nothing recorded), or
   * StoreUnavailableError (not known to be recorded; see there). The caller acts only when
   * it resolves.
   */
  async fenced(what: string, ops: FencedOp[]): Promise<void> {
    const st = this.st;
    const may = this.mayMutate();
    if (!may.allowed || st.role !== 'leader') throw new NotLeaderError(this.cluster, may.reason ?? 'not the leader', what);
    const c = this.h.client;
    let txn = c.if(this.key, 'Create', '==', st.createRevision);
    const fresh = ops.filter((o) => o.type === 'put' && o.ifAbsent).map((o) => o.key);
    for (const k of fresh) txn = txn.and(k, 'Create', '==', 0);
    const writes = ops.map((o) => (o.type === 'put' ? c.put(o.key).value(o.value) : c.delete().key(o.key)));
    let r;
    try {
      r = await txn.then(...writes).commit();
    } catch (e) {
      throw new StoreUnavailableError(`recording ${what} for cluster ${this.cluster}`, e, this.h.endpoints);
    }
    if (r.succeeded) return;
    let cur;
    try {
      cur = (await c.get(this.key).exec()).kvs[0];
    } catch (e) {
      throw new StoreUnavailableError(`reading the leadership of cluster ${this.cluster}`, e, this.h.endpoints);
    }
    if (!cur || String(cur.create_revision) !== st.createRevision) {
      const why = cur ? `another manager holds the leadership key (${leaderOf(cur.value)})` : 'its leadership key expired in etcd';
      this.lose(why);
      throw new NotLeaderError(this.cluster, why, what);
    }
    throw new StoreConflictError(what, fresh);
  }

  /** Give up leadership (revoke the lease: the key goes at once) and stop campaigning. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    const lease = this.lease;
    this.lease = undefined;
    if (lease) await lease.revoke({ deadline: Date.now() + this.h.requestTimeoutMs }).catch(() => undefined);
    await this.loopDone;
    this.setState({ role: 'unknown', why: 'stopped' });
  }

  private setState(s: LeadershipState): void {
    const before = this.st;
    this.st = s;
    if (s.role === 'leader' && before.role !== 'leader') this.emit('elected', s.createRevision);
    if (before.role === 'leader' && s.role !== 'leader') this.emit('lost', s.role === 'unknown' ? s.why : `${s.leader ?? 'another manager'} leads`);
    const was = before.role === 'follower' ? before.leader : before.role === 'leader' ? this.manager : undefined;
    const now = s.role === 'follower' ? s.leader : s.role === 'leader' ? this.manager : undefined;
    if (was !== now) this.emit('leader', now);
  }

  /** Leadership ends now (the loop campaigns again with a new lease). */
  private lose(why: string): void {
    if (this.st.role !== 'leader') return;
    this.setState({ role: 'unknown', why });
    const lease = this.lease;
    this.lease = undefined;
    lease?.revoke({ deadline: Date.now() + this.h.requestTimeoutMs }).catch(() => undefined);
    this.wake?.();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.campaign();
      } catch (e) {
        if (this.stopped) break;
        if (this.st.role === 'leader') this.lose(`etcd error: ${errorText(e)}`);
        else this.setState({ role: 'unknown', why: `etcd unavailable: ${errorText(e)}` });
        this.emit('unavailable', errorText(e));
      }
      if (!this.stopped) await this.pause(500);
    }
  }

  /** Sleep ms, or less when woken (lease lost, stop). */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  /** One lease: campaign with it until it is lost (returns) or etcd fails (throws). */
  private async campaign(): Promise<void> {
    const c = this.h.client;
    const ttlMs = this.ttlS * 1000;
    const lease = c.lease(this.ttlS, { autoKeepAlive: true });
    this.lease = lease;
    // Send times of renewals not yet answered, oldest first: an answer confirms the lease
    // from the moment its request left.
    const fired: number[] = [];
    let confirmedSentAt = monotonic();
    let lostWhy: string | undefined;
    lease.on('keepaliveFired', () => fired.push(monotonic()));
    lease.on('keepaliveSucceeded', () => {
      const t = fired.shift();
      if (t !== undefined) confirmedSentAt = Math.max(confirmedSentAt, t);
      if (this.st.role === 'leader' && this.lease === lease) this.st = { ...this.st, confirmedSentAt };
    });
    lease.on('keepaliveFailed', () => {
      fired.length = 0;
    });
    lease.on('lost', (e) => {
      lostWhy = `lease lost: ${errorText(e)}`;
      this.wake?.();
    });
    let id: string;
    try {
      id = await lease.grant();
    } catch (e) {
      lease.release();
      throw e;
    }
    const value = JSON.stringify({ manager: this.manager, since: new Date().toISOString() } satisfies LeaderRecord);
    try {
      while (!this.stopped && lostWhy === undefined && this.lease === lease) {
        const r = await c
          .if(this.key, 'Create', '==', 0)
          .then(c.put(this.key).value(value).lease(id))
          .else(c.get(this.key))
          
          .commit();
        if (r.succeeded) {
          this.record = JSON.parse(value) as LeaderRecord;
          this.setState({ role: 'leader', createRevision: String(r.header.revision), confirmedSentAt });
          // Lead until the lease is lost, or until etcd has not confirmed it for ttl (minus the margin).
          while (!this.stopped && lostWhy === undefined && this.lease === lease) {
            const may = this.mayMutate();
            if (!may.allowed) {
              this.lose(`lease not renewed in time: ${may.reason}`);
              return;
            }
            await this.pause(Math.max(100, Math.floor(ttlMs / 10)));
          }
          if (lostWhy !== undefined) this.lose(lostWhy);
          return;
        }
        const kv = r.responses[0]?.response_range?.kvs?.[0];
        this.record = kv ? recordOf(kv.value) : undefined;
        this.setState({ role: 'follower', leader: kv ? leaderOf(kv.value) : undefined });
        await this.waitVacant(String(r.header.revision), Math.min(1000, Math.floor(ttlMs / 5)));
      }
    } finally {
      // This lease is done with (lost, stopped, or etcd failed): the next campaign grants a new one.
      if (this.lease === lease) this.lease = undefined;
      lease.release();
    }
  }

  /** Until the leadership key is deleted after `revision`, at most pollMs (the watch is a shortcut, the poll the guarantee). */
  private async waitVacant(revision: string, pollMs: number): Promise<void> {
    const { watcher } = this.h.watch((b) => b.key(this.key).startRevision(String(BigInt(revision) + 1n)));
    const deleted = new Promise<void>((resolve) => watcher.on('delete', () => resolve()));
    try {
      if (!this.stopped) await Promise.race([deleted, this.pause(pollMs)]);
    } finally {
      // Also when etcd has not confirmed it yet: a watch left behind would stay registered.
      await watcher.cancel().catch(() => undefined);
    }
  }
}

function leaderOf(value: Buffer): string {
  return recordOf(value)?.manager ?? '?';
}

function recordOf(value: Buffer): LeaderRecord | undefined {
  try {
    const r = JSON.parse(value.toString()) as LeaderRecord;
    return typeof r.manager === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

/** The last answer and the last failure of etcd seen by this manager (wall-clock ms). */
export interface EtcdHealth {
  lastOkAt: number | null;
  lastErrorAt: number | null;
  lastError: string | null;
}

/** Every manager's latest view of one cluster's master, kept current by a watch. */
export interface ViewsWatch {
  views(): MasterView[];
  stop(): Promise<void>;
}

/** A manager's connection to etcd: one leadership per cluster, views of the masters. */
export class HaSession {
  readonly keys: HaKeys;
  private readonly leaderships = new Map<string, ClusterLeadership>();
  /** The lease this manager's views are bound to: they vanish with the manager. */
  private viewLease?: Lease;
  readonly health: EtcdHealth = { lastOkAt: null, lastErrorAt: null, lastError: null };

  constructor(
    readonly settings: HaSettings,
    readonly h: EtcdHandle = connectEtcd(settings.etcd),
  ) {
    this.keys = haKeys(settings.prefix);
  }

  get manager(): string {
    return this.settings.manager_id;
  }

  /** The leadership of `cluster`, campaigning from the first call on. */
  leadership(cluster: string): ClusterLeadership {
    let l = this.leaderships.get(cluster);
    if (!l) {
      l = new ClusterLeadership(this.h, cluster, this.manager, this.settings.lease_ttl_s, this.keys).start();
      this.leaderships.set(cluster, l);
    }
    return l;
  }

  /** Stop campaigning for `cluster` (resigns when leading). */
  async drop(cluster: string): Promise<void> {
    const l = this.leaderships.get(cluster);
    this.leaderships.delete(cluster);
    await l?.stop();
  }

  /** etcd answered (ok) or failed: for status and metrics. */
  noteEtcd(ok: boolean, error?: unknown): void {
    if (ok) this.health.lastOkAt = Date.now();
    else {
      this.health.lastErrorAt = Date.now();
      this.health.lastError = errorText(error);
    }
  }

  /** The lease views are written with (lease_ttl_s, kept alive; a lost one is replaced at the next write). */
  private leaseForViews(): Lease {
    if (this.viewLease) return this.viewLease;
    const l = this.h.client.lease(this.settings.lease_ttl_s, { autoKeepAlive: true });
    l.on('lost', () => {
      if (this.viewLease === l) this.viewLease = undefined;
      l.release();
    });
    this.viewLease = l;
    return l;
  }

  /**
   * Publish this manager's view of a cluster's master (not fenced: every manager writes its
   * own), bound to this manager's lease: when the manager is gone, so is its view.
   */
  async publishView(view: Omit<MasterView, 'manager'>): Promise<void> {
    const v: MasterView = { manager: this.manager, ...view };
    const lease = this.leaseForViews();
    try {
      await lease.put(this.keys.view(v.cluster, this.manager)).value(JSON.stringify(v)).exec();
      this.noteEtcd(true);
    } catch (e) {
      this.noteEtcd(false, e);
      if (this.viewLease === lease) {
        this.viewLease = undefined;
        lease.release();
      }
      throw new StoreUnavailableError(`publishing the view of ${v.cluster}'s master`, e, this.h.endpoints);
    }
  }

  /**
   * Every manager's latest view of a cluster's master, read once and then kept by a watch on
   * the views' prefix (read again whenever the watch reconnects). `onChange` runs after each
   * change. No reads while nothing changes.
   */
  watchViews(cluster: string, onChange: () => void): ViewsWatch {
    const prefix = this.keys.views(cluster);
    // Per manager, the revision of the latest change seen (a put, or a delete: view undefined).
    // A read and the watch's events may arrive in any order: the newer revision wins.
    const entries = new Map<string, { rev: bigint; view?: MasterView }>();
    let stopped = false;
    let watcher: Watcher | undefined;
    const apply = (manager: string, rev: bigint, view: MasterView | undefined): void => {
      const cur = entries.get(manager);
      if (!cur || rev > cur.rev) entries.set(manager, view ? { rev, view } : { rev });
    };
    const managerOf = (key: Buffer) => key.toString().slice(prefix.length);
    const reload = async () => {
      try {
        const r = await this.h.client.getAll().prefix(prefix).exec();
        this.noteEtcd(true);
        const at = BigInt(r.header.revision);
        const seen = new Set<string>();
        for (const kv of r.kvs) {
          const m = managerOf(kv.key);
          seen.add(m);
          apply(m, BigInt(kv.mod_revision), parseView(kv.value));
        }
        // Absent at the read's revision: deleted by then (unless something newer came since).
        for (const m of [...entries.keys()]) if (!seen.has(m)) apply(m, at, undefined);
        if (!stopped) onChange();
      } catch (e) {
        this.noteEtcd(false, e);
      }
    };
    void (async () => {
      while (!stopped) {
        const { watcher: w, ready } = this.h.watch((b) => b.prefix(prefix));
        watcher = w;
        w.on('put', (kv) => {
          if (stopped) return;
          apply(managerOf(kv.key), BigInt(kv.mod_revision), parseView(kv.value));
          onChange();
        });
        w.on('delete', (kv) => {
          if (stopped) return;
          apply(managerOf(kv.key), BigInt(kv.mod_revision), undefined);
          onChange();
        });
        // Confirmed by etcd, the first time and after every reconnection: read the views again.
        w.on('connected', () => void reload());
        try {
          await ready;
          return;
        } catch (e) {
          if (stopped) return; // cancelled by stop()
          this.noteEtcd(false, e);
          await w.cancel().catch(() => undefined);
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    })();
    return {
      views: () => [...entries.values()].flatMap((e) => (e.view ? [e.view] : [])),
      stop: async () => {
        stopped = true;
        await watcher?.cancel().catch(() => undefined);
      },
    };
  }

  /** Every manager's last published view of a cluster's master. */
  async readViews(cluster: string): Promise<MasterView[]> {
    let kvs;
    try {
      kvs = (await this.h.client.getAll().prefix(this.keys.views(cluster)).exec()).kvs;
    } catch (e) {
      throw new StoreUnavailableError(`reading the views of ${cluster}'s master`, e, this.h.endpoints);
    }
    const out: MasterView[] = [];
    for (const kv of kvs) {
      const v = parseView(kv.value);
      if (v) out.push(v);
    }
    return out;
  }

  /** Resign every leadership, withdraw this manager's views (revoke their lease) and close the client. */
  async close(): Promise<void> {
    await Promise.all([...this.leaderships.keys()].map((c) => this.drop(c)));
    const l = this.viewLease;
    this.viewLease = undefined;
    if (l) await l.revoke({ deadline: Date.now() + this.h.requestTimeoutMs }).catch(() => undefined);
    await this.h.close();
  }
}

/** A published view, or undefined for a foreign or torn value. */
function parseView(value: Buffer): MasterView | undefined {
  try {
    const v = JSON.parse(value.toString()) as MasterView;
    return typeof v.manager === 'string' && typeof v.master === 'string' && typeof v.at === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

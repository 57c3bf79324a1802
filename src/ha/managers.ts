/**
 * Each manager's record in etcd, `<prefix>managers/<manager_id>`: the URL of its API (for the
 * other managers to forward actions to it when it leads a cluster), its host and pid. The
 * record is bound to a lease of its own (lease_ttl_s, kept alive): it goes with the manager.
 * A lost lease (etcd unreachable longer than the ttl) is replaced and the record written again.
 */
import * as os from 'node:os';
import type { Lease } from 'etcd3';
import type { Logger } from '../util/log';
import { errorText, StoreUnavailableError } from './etcd';
import type { HaSession } from './leadership';

export interface ManagerRecord {
  manager: string;
  /** Its API's advertised URL; null when it has none (loopback or wildcard listen, no heir.api.advertise_url). */
  api: string | null;
  host: string;
  pid: number;
  /** ISO time the record was first published. */
  since: string;
  /** The digest of each cluster in its configuration (src/ha/config-digest.ts); absent in records of older versions. */
  clusters?: Record<string, string>;
}

/** How often the record is checked (a write happens only when its lease is new or the record changed). */
const CHECK_EVERY_MS = 1000;

/** Keeps this manager's record in etcd while the daemon runs. */
export class ManagerAnnouncement {
  private record: ManagerRecord;
  private lease?: Lease;
  /** The lease the current record was last written with. */
  private writtenWith?: Lease;
  private timer?: NodeJS.Timeout;
  private writing: Promise<void> | null = null;
  private stopped = false;
  private lastError = '';

  constructor(
    private readonly s: HaSession,
    api: string | null,
    private readonly log: Logger,
    clusters: Record<string, string> = {},
  ) {
    this.record = { manager: s.manager, api, host: os.hostname(), pid: process.pid, since: new Date().toISOString(), clusters };
  }

  start(): this {
    this.timer = setInterval(() => void this.check(), CHECK_EVERY_MS);
    this.timer.unref();
    void this.check();
    return this;
  }

  /** The API's URL changed (reload): written again at once. */
  setApi(api: string | null): void {
    if (api === this.record.api) return;
    this.record = { ...this.record, api };
    this.writtenWith = undefined;
    void this.check();
  }

  /** The clusters' digests changed (reload): written again at once. */
  setClusters(clusters: Record<string, string>): void {
    this.record = { ...this.record, clusters };
    this.writtenWith = undefined;
    void this.check();
  }

  /** Write the record when its lease is new or it changed; one write at a time; never throws. */
  private check(): Promise<void> {
    if (this.stopped || this.writing || (this.lease && this.writtenWith === this.lease)) return this.writing ?? Promise.resolve();
    this.writing = this.write().finally(() => (this.writing = null));
    return this.writing;
  }

  private async write(): Promise<void> {
    if (!this.lease) {
      const l = this.s.h.client.lease(this.s.settings.lease_ttl_s, { autoKeepAlive: true });
      l.on('lost', () => {
        if (this.lease !== l) return;
        this.lease = undefined;
        l.release();
      });
      this.lease = l;
    }
    const lease = this.lease;
    const record = this.record;
    try {
      await lease.put(this.s.keys.manager(record.manager)).value(JSON.stringify(record)).exec();
      if (this.record === record) this.writtenWith = lease;
      this.s.noteEtcd(true);
      this.lastError = '';
    } catch (e) {
      this.s.noteEtcd(false, e);
      const m = errorText(e);
      if (m !== this.lastError) this.log.warn({ manager: record.manager }, `cannot publish this manager's record (API address) in etcd: ${m}; retried every second`);
      this.lastError = m;
      if (this.lease === lease) {
        this.lease = undefined;
        lease.release();
      }
    }
  }

  /** Withdraw the record (revoke its lease). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.writing;
    const l = this.lease;
    this.lease = undefined;
    if (l) await l.revoke({ deadline: Date.now() + this.s.h.requestTimeoutMs }).catch(() => undefined);
  }
}

/** A manager's record as published; undefined when there is none (or a foreign value). Throws StoreUnavailableError. */
export async function readManagerRecord(s: HaSession, manager: string): Promise<ManagerRecord | undefined> {
  let v: string | null;
  try {
    v = await s.h.client.get(s.keys.manager(manager)).string();
    s.noteEtcd(true);
  } catch (e) {
    s.noteEtcd(false, e);
    throw new StoreUnavailableError(`reading the record of manager ${manager}`, e, s.h.endpoints);
  }
  if (v === null) return undefined;
  try {
    const r = JSON.parse(v) as ManagerRecord;
    return typeof r.manager === 'string' && (typeof r.api === 'string' || r.api === null) ? r : undefined;
  } catch {
    return undefined;
  }
}

/** Every manager's published record (those alive: each goes with its lease). Throws StoreUnavailableError. */
export async function readManagerRecords(s: HaSession): Promise<ManagerRecord[]> {
  const prefix = s.keys.manager('');
  let kvs;
  try {
    kvs = (await s.h.client.getAll().prefix(prefix).exec()).kvs;
    s.noteEtcd(true);
  } catch (e) {
    s.noteEtcd(false, e);
    throw new StoreUnavailableError('reading the records of the managers', e, s.h.endpoints);
  }
  const out: ManagerRecord[] = [];
  for (const kv of kvs) {
    try {
      const r = JSON.parse(kv.value.toString()) as ManagerRecord;
      if (typeof r.manager === 'string') out.push(r);
    } catch {
      /* a foreign value */
    }
  }
  return out;
}

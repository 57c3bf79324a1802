/**
 * The etcd adapter: the client built from heir.ha (endpoints, TLS files, auth), every attempt
 * of a unary request bounded by request_timeout_ms (the client retries a failed attempt on
 * another member, up to three attempts), and the errors heir tells apart. Only src/ha talks
 * to etcd (through the etcd3 client: leases with keepalive, transactions, watches).
 *
 * etcd3 (with gRPC and protobufjs) is required when the first client is made, not when this
 * module loads: it is ~200 modules, ~30 MB of RSS and most of a second to load, and a daemon
 * without heir.ha never uses it.
 */
import * as fs from 'node:fs';
import type { Etcd3, IOptions, Watcher, WatchBuilder } from 'etcd3';
import type { HaSettings } from '../config/schema';

export type { Etcd3 } from 'etcd3';

/**
 * etcd did not answer (unreachable, no quorum, deadline passed): no action may follow. A write
 * may still be applied later (etcd can commit a proposal after the client gave up), but only
 * as fenced: while the leadership it compared was still held.
 */
export class StoreUnavailableError extends Error {
  constructor(
    readonly what: string,
    override readonly cause: unknown,
    endpoints: string[],
  ) {
    super(
      `etcd unavailable while ${what} (${endpoints.join(', ')}): ${errorText(cause)}; ` +
        'no mutating action is taken without the store: check that a majority of the etcd members runs and that this manager reaches them',
    );
    this.name = 'StoreUnavailableError';
  }
}

/** This manager does not (or no longer) hold the cluster's leadership: the action was not recorded and must not happen. */
export class NotLeaderError extends Error {
  constructor(
    readonly cluster: string,
    readonly why: string,
    readonly what: string,
  ) {
    super(`not the leader of cluster ${cluster} (${why}): ${what} not recorded and not performed`);
    this.name = 'NotLeaderError';
  }
}

/** A conditional write found its key already there (another record with that name): nothing was recorded. */
export class StoreConflictError extends Error {
  constructor(readonly what: string, readonly keys: string[]) {
    super(`${what}: not recorded, ${keys.length === 1 ? 'its key already exists' : 'one of its keys already exists'} in etcd (${keys.join(', ')})`);
    this.name = 'StoreConflictError';
  }
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export interface EtcdHandle {
  client: Etcd3;
  endpoints: string[];
  requestTimeoutMs: number;
  /** Call options for one unary request. */
  deadline(): { deadline: number };
  /**
   * A watch whose Watcher exists at once, so that it can be cancelled before etcd confirmed it.
   * The client's create() hides the Watcher until then, and a watch nobody can cancel stays
   * registered: once etcd answers it watches forever, and after close() the client keeps
   * trying to reconnect it (a timer every few seconds, which keeps the process from exiting).
   * `ready` resolves when etcd confirmed the watch, rejects on its error or when the watch is
   * cancelled first (nothing awaits it forever).
   */
  watch(build: (b: WatchBuilder) => WatchBuilder): { watcher: Watcher; ready: Promise<Watcher> };
  /** Cancel every watch not yet cancelled (bounded by request_timeout_ms), then close the client. */
  close(): Promise<void>;
}

function readPem(file: string, field: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new Error(`heir.ha.etcd.tls.${field}: cannot read ${file}: ${errorText(e)}`);
  }
}

/** The longest wait before a failed watch stream is made again. */
export const WATCH_BACKOFF_MAX_MS = 2000;

/** A client for heir.ha.etcd. Streams (watches, lease keepalives) are not bounded; every other call is. */
export function connectEtcd(settings: HaSettings['etcd']): EtcdHandle {
  const opts: IOptions = {
    hosts: settings.endpoints,
    dialTimeout: settings.request_timeout_ms,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + settings.request_timeout_ms }),
  };
  if (settings.tls) {
    opts.credentials = {
      rootCertificate: readPem(settings.tls.ca, 'ca'),
      ...(settings.tls.cert ? { certChain: readPem(settings.tls.cert, 'cert') } : {}),
      ...(settings.tls.key ? { privateKey: readPem(settings.tls.key, 'key') } : {}),
    };
  }
  if (settings.auth) opts.auth = { username: settings.auth.user, password: settings.auth.password };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Etcd3: Client } = require('etcd3') as typeof import('etcd3');
  // A watch stream that failed is made again after a backoff; the client's default grows to
  // 30 s, so after an etcd outage a follower could learn of the leader's changes that late, and
  // a closed client's last reconnect timer kept the process up that long. (cockatiel is the
  // client's own fault-handling library.)
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { ExponentialBackoff } = require('cockatiel') as typeof import('cockatiel');
  opts.faultHandling = { watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: WATCH_BACKOFF_MAX_MS }) as never };
  const client = new Client(opts);
  const open = new Set<Watcher>();
  return {
    client,
    endpoints: settings.endpoints,
    requestTimeoutMs: settings.request_timeout_ms,
    deadline: () => ({ deadline: Date.now() + settings.request_timeout_ms }),
    watch(build) {
      const watcher = build(client.watch()).watcher();
      open.add(watcher);
      let cancelled: (e: Error) => void = () => undefined;
      const cancel = watcher.cancel.bind(watcher);
      watcher.cancel = () => {
        open.delete(watcher);
        cancelled(new Error('the watch was cancelled before etcd confirmed it'));
        return cancel();
      };
      // (An error event without a listener would throw; callers that care listen themselves.)
      watcher.on('error', () => undefined);
      const ready = new Promise<Watcher>((resolve, reject) => {
        watcher.once('connected', () => resolve(watcher));
        watcher.once('error', reject);
        cancelled = reject;
      });
      ready.catch(() => undefined);
      return { watcher, ready };
    },
    async close() {
      // Unconfirmed watches leave at once; a confirmed one waits for etcd's answer to its cancel.
      const cancels = [...open].map((w) => w.cancel().catch(() => undefined));
      let t: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(cancels), new Promise((r) => (t = setTimeout(r, settings.request_timeout_ms)))]);
      clearTimeout(t);
      client.close();
    },
  };
}

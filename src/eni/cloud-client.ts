/**
 * What the ECS and VPC adapters (ecs-api.ts, vpc-api.ts) share, so that both behave alike:
 *
 * - one credential chain per process: @alicloud/credentials' default chain is walked once
 *   (not per fence, attach or adapter), its providers cache STS tokens and refresh them before
 *   they expire; a process that changes its ALIBABA_CLOUD_* environment gets a new chain;
 * - one SDK client per API and cloud settings, made on first use, with cloud.ca_file read once;
 * - one call wrapper: explicit timeouts bounded by the operation's remaining budget, every call
 *   journaled (action, code, RequestId) and reported (observe.ts: metrics), errors normalized
 *   to EcsApiError (errors.ts).
 */
import { readFileSync } from 'node:fs';
import { $OpenApiUtil } from '@alicloud/openapi-core';
import Credential from '@alicloud/credentials';
import type { CloudSettings } from '../config/schema';
import { EcsApiError, toEcsError } from './errors';
import { reportCloudCall } from './observe';
import type { ApiCallRecord } from './types';

/** The inputs of the default credential chain that come from the environment. */
function chainKey(): string {
  return JSON.stringify(
    Object.entries(process.env)
      .filter(([k]) => k.startsWith('ALIBABA_CLOUD_'))
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}

const credentials = new Map<string, Credential>();
const clients = new Map<string, { client: unknown; ca?: string }>();

/** The process's credential chain for the current environment. */
function sharedCredential(chain: string): Credential {
  let c = credentials.get(chain);
  if (!c) {
    c = new Credential();
    credentials.set(chain, c);
  }
  return c;
}

export type ClientSettings = Pick<CloudSettings, 'region_id' | 'protocol' | 'connect_timeout_ms' | 'read_timeout_ms' | 'ca_file'> & { endpoint?: string };

/** Runtime options of one call: the settings' timeouts and CA. */
export interface CallRuntime {
  readTimeout: number;
  connectTimeout: number;
  ca?: string;
}

/**
 * The process's SDK client of one API (`api`: 'ecs', 'vpc') for these settings, made by
 * `make` on first use. `extra` tells apart clients that differ in something else (a signature).
 */
export function sharedClient<C>(api: string, s: ClientSettings, make: (config: $OpenApiUtil.Config) => C, extra: Record<string, unknown> = {}): { client: C; runtime: CallRuntime } {
  const chain = chainKey();
  const key = JSON.stringify([api, chain, s.region_id, s.endpoint, s.protocol, s.read_timeout_ms, s.connect_timeout_ms, s.ca_file, extra]);
  let hit = clients.get(key);
  if (!hit) {
    let ca: string | undefined;
    if (s.ca_file) {
      try {
        ca = readFileSync(s.ca_file, 'utf8');
      } catch (err) {
        throw new EcsApiError('(setup)', 'config', 'CaFileUnreadable', `heir.cloud.ca_file ${s.ca_file} cannot be read: ${(err as Error).message}`);
      }
    }
    const config = new $OpenApiUtil.Config({
      credential: sharedCredential(chain),
      regionId: s.region_id,
      endpoint: s.endpoint,
      protocol: s.protocol,
      readTimeout: s.read_timeout_ms,
      connectTimeout: s.connect_timeout_ms,
      ca,
      ...extra,
    });
    hit = { client: make(config), ...(ca ? { ca } : {}) };
    clients.set(key, hit);
  }
  return { client: hit.client as C, runtime: { readTimeout: s.read_timeout_ms, connectTimeout: s.connect_timeout_ms, ...(hit.ca ? { ca: hit.ca } : {}) } };
}

/** Run one SDK call, journal it, report it, and normalize its error. */
export async function cloudCall<T extends { body?: { requestId?: string } }>(
  action: string,
  runtime: CallRuntime,
  budgetMs: number,
  journal: ApiCallRecord[],
  fn: (rt: any) => Promise<T>,
): Promise<{ body: NonNullable<T['body']>; requestId?: string }> {
  const readTimeout = Math.max(1000, Math.min(runtime.readTimeout, budgetMs));
  const started = performance.now();
  try {
    const res = await fn({ ...runtime, readTimeout });
    const requestId = res.body?.requestId;
    journal.push({ action, requestId });
    reportCloudCall(action, 'success', (performance.now() - started) / 1000);
    return { body: res.body as NonNullable<T['body']>, requestId };
  } catch (err) {
    const e = toEcsError(action, err);
    journal.push({ action, code: e.code, requestId: e.requestId });
    reportCloudCall(action, e.kind, (performance.now() - started) / 1000);
    throw e;
  }
}

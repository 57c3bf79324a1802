/**
 * The ECS API adapter: the only place heir uses the Alibaba Cloud SDK.
 *
 * - Credentials come from @alicloud/credentials' default chain (environment,
 *   OIDC, CLI/profile files, the ECS RAM role via instance metadata,
 *   ALIBABA_CLOUD_CREDENTIALS_URI). heir's configuration never holds an AccessKey.
 *   The chain is walked once per process (not per fence or attach): one Credential
 *   object, whose providers cache STS tokens and refresh them before they expire, and
 *   one SDK client per cloud settings. A process that changes its ALIBABA_CLOUD_*
 *   environment gets a new chain.
 * - TLS is always verified; cloud.ca_file adds a CA bundle for the endpoint.
 * - Every call carries explicit connect and read timeouts. The SDK itself does
 *   not retry (7.x ignores RuntimeOptions.autoretry); retries are heir's (retry.ts).
 * - Errors become EcsApiError, naming the action, code, HTTP status and RequestId.
 */
import { readFileSync } from 'node:fs';
import EcsClient, * as Ecs from '@alicloud/ecs20140526';
import { $OpenApiUtil } from '@alicloud/openapi-core';
import Credential from '@alicloud/credentials';
import type { CloudSettings } from '../config/schema';
import type { ApiCallRecord } from './types';
import { reportCloudCall } from './observe';

export type EcsErrorKind = 'api' | 'network' | 'timeout' | 'credentials' | 'config';

export class EcsApiError extends Error {
  constructor(
    readonly action: string,
    readonly kind: EcsErrorKind,
    readonly code: string,
    message: string,
    readonly requestId?: string,
    readonly statusCode?: number,
    /** Flow control: how long the endpoint asks the caller to wait (x-acs-retry-after, ms), when it says. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'EcsApiError';
  }
}

export interface EniInfo {
  id: string;
  status: string;
  type: string;
  instanceId?: string;
  zoneId: string;
  vpcId: string;
  vSwitchId: string;
  privateIp: string;
  secondaryIps: string[];
}

export interface InstanceInfo {
  id: string;
  status: string;
  zoneId: string;
  vpcId: string;
  vSwitchId: string;
  /** ENIs on the instance as DescribeInstances reports them. */
  enis: { id: string; type: string }[];
}

export interface EcsApiOptions extends Pick<CloudSettings, 'region_id' | 'endpoint' | 'protocol' | 'connect_timeout_ms' | 'read_timeout_ms' | 'ca_file'> {
  /** Only for exercising the legacy HMAC-SHA1 RPC signature against the emulator. */
  legacySignature?: boolean;
}

/** The RAM action that authorizes an API action heir calls (DescribeVSwitches is the VPC API's). */
export function ramAction(action: string): string {
  return action === 'DescribeVSwitches' ? 'vpc:DescribeVSwitches' : `ecs:${action}`;
}

/** A refusal by RAM: the caller's policy does not grant the action. */
export function isPermissionDenied(e: { code: string }): boolean {
  return /^Forbidden|^NoPermission/.test(e.code);
}

/** Classify whatever the SDK threw. */
export function toEcsError(action: string, err: unknown): EcsApiError {
  const e = err as { name?: string; code?: string; message?: string; statusCode?: number; requestId?: string; retryAfter?: number; data?: Record<string, unknown> };
  const msg = String(e?.message ?? err);
  if (typeof e?.statusCode === 'number') {
    const requestId = e.requestId && e.requestId !== 'undefined' ? e.requestId : (e.data?.RequestId as string | undefined);
    const serverMsg = (e.data?.Message as string | undefined) ?? msg;
    // The SDK's ThrottlingError carries the x-acs-retry-after header as retryAfter (ms).
    const retryAfterMs = typeof e.retryAfter === 'number' && e.retryAfter >= 0 ? e.retryAfter : undefined;
    return new EcsApiError(action, 'api', e.code ?? `HTTP${e.statusCode}`, serverMsg, requestId, e.statusCode, retryAfterMs);
  }
  if (/unable to get credentials|InvalidCredentials|credentials/i.test(msg) && !/ECONN|timeout/i.test(msg)) {
    return new EcsApiError(action, 'credentials', 'NoCredentials', `no usable Alibaba Cloud credentials (${msg}); give the manager a RAM role, or set ALIBABA_CLOUD_CREDENTIALS_URI / ALIBABA_CLOUD_ACCESS_KEY_ID+SECRET in heir's environment`);
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(String(e?.code ?? '')) || /certificate/i.test(msg)) {
    return new EcsApiError(action, 'config', String(e?.code ?? 'TlsVerifyFailed'), `TLS verification of the ECS endpoint failed (${msg}); give heir.cloud.ca_file the CA that signed the endpoint's certificate`);
  }
  if (/ReadTimeout|ConnectTimeout|RequestTimeout|ETIMEDOUT/i.test(`${e?.name ?? ''} ${msg}`)) {
    return new EcsApiError(action, 'timeout', 'Timeout', msg);
  }
  return new EcsApiError(action, 'network', (e?.code as string) ?? 'NetworkError', msg);
}

function runtimeOf(o: EcsApiOptions): { readTimeout: number; connectTimeout: number; ca?: string } {
  return { readTimeout: o.read_timeout_ms, connectTimeout: o.connect_timeout_ms };
}

/** The inputs of the default credential chain that come from the environment. */
function chainKey(): string {
  return JSON.stringify(
    Object.entries(process.env)
      .filter(([k]) => k.startsWith('ALIBABA_CLOUD_'))
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}

const credentials = new Map<string, Credential>();
const clients = new Map<string, { client: EcsClient; ca?: string }>();

/** The process's SDK client for these settings (and its credential chain), made on first use. */
function sharedClient(opts: EcsApiOptions): { client: EcsClient; ca?: string } {
  const chain = chainKey();
  const key = JSON.stringify([chain, opts.region_id, opts.endpoint, opts.protocol, opts.read_timeout_ms, opts.connect_timeout_ms, opts.ca_file, !!opts.legacySignature]);
  const hit = clients.get(key);
  if (hit) return hit;
  let ca: string | undefined;
  if (opts.ca_file) {
    try {
      ca = readFileSync(opts.ca_file, 'utf8');
    } catch (err) {
      throw new EcsApiError('(setup)', 'config', 'CaFileUnreadable', `heir.cloud.ca_file ${opts.ca_file} cannot be read: ${(err as Error).message}`);
    }
  }
  let credential = credentials.get(chain);
  if (!credential) {
    credential = new Credential();
    credentials.set(chain, credential);
  }
  const config = new $OpenApiUtil.Config({
    credential,
    regionId: opts.region_id,
    endpoint: opts.endpoint,
    protocol: opts.protocol,
    readTimeout: opts.read_timeout_ms,
    connectTimeout: opts.connect_timeout_ms,
    ca,
    signatureAlgorithm: opts.legacySignature ? 'v2' : undefined,
  });
  const made = { client: new EcsClient(config), ...(ca ? { ca } : {}) };
  clients.set(key, made);
  return made;
}

export class EcsApi {
  private readonly client: EcsClient;
  private readonly runtime: ReturnType<typeof runtimeOf>;
  readonly regionId: string;

  constructor(
    readonly opts: EcsApiOptions,
    /** Every call is appended here (action, code, RequestId). */
    readonly journal: ApiCallRecord[] = [],
  ) {
    this.regionId = opts.region_id;
    const { client, ca } = sharedClient(opts);
    this.client = client;
    this.runtime = { ...runtimeOf(opts), ...(ca ? { ca } : {}) };
  }

  /**
   * Remaining time budget of the current operation (ms); a call's read timeout
   * never exceeds it, so an operation's total time stays bounded.
   */
  budget: () => number = () => Infinity;

  /** Run one SDK call, journal it, report it (observe.ts: metrics), and normalize its error. */
  private async call<T extends { body?: { requestId?: string } }>(action: string, fn: (rt: any) => Promise<T>): Promise<{ body: NonNullable<T['body']>; requestId?: string }> {
    const readTimeout = Math.max(1000, Math.min(this.runtime.readTimeout, this.budget()));
    const started = performance.now();
    try {
      const res = await fn({ ...this.runtime, readTimeout });
      const requestId = res.body?.requestId;
      this.journal.push({ action, requestId });
      reportCloudCall(action, 'success', (performance.now() - started) / 1000);
      return { body: res.body as NonNullable<T['body']>, requestId };
    } catch (err) {
      const e = toEcsError(action, err);
      this.journal.push({ action, code: e.code, requestId: e.requestId });
      reportCloudCall(action, e.kind, (performance.now() - started) / 1000);
      throw e;
    }
  }

  async describeEni(eniId: string): Promise<{ eni?: EniInfo; requestId?: string }> {
    const { enis, requestId } = await this.describeEnis([eniId]);
    return { eni: enis.find((e) => e.id === eniId), requestId };
  }

  async describeEnis(eniIds: string[]): Promise<{ enis: EniInfo[]; requestId?: string }> {
    const { body, requestId } = await this.call('DescribeNetworkInterfaces', (rt) =>
      this.client.describeNetworkInterfacesWithOptions(new Ecs.DescribeNetworkInterfacesRequest({ regionId: this.regionId, networkInterfaceId: eniIds, pageSize: 100 }), rt),
    );
    const set = body.networkInterfaceSets?.networkInterfaceSet ?? [];
    const enis = set
      .filter((s) => s.networkInterfaceId && eniIds.includes(s.networkInterfaceId))
      .map((hit) => ({
        id: hit.networkInterfaceId!,
        status: hit.status ?? '',
        type: hit.type ?? '',
        instanceId: hit.instanceId || undefined,
        zoneId: hit.zoneId ?? '',
        vpcId: hit.vpcId ?? '',
        vSwitchId: hit.vSwitchId ?? '',
        privateIp: hit.privateIpAddress ?? '',
        secondaryIps: (hit.privateIpSets?.privateIpSet ?? []).filter((p) => !p.primary).map((p) => p.privateIpAddress ?? ''),
      }));
    return { enis, requestId };
  }

  async describeInstances(ids: string[]): Promise<{ instances: InstanceInfo[]; requestId?: string }> {
    const { body, requestId } = await this.call('DescribeInstances', (rt) =>
      this.client.describeInstancesWithOptions(new Ecs.DescribeInstancesRequest({ regionId: this.regionId, instanceIds: JSON.stringify(ids), pageSize: 100 }), rt),
    );
    const instances = (body.instances?.instance ?? []).map((i) => ({
      id: i.instanceId ?? '',
      status: i.status ?? '',
      zoneId: i.zoneId ?? '',
      vpcId: i.vpcAttributes?.vpcId ?? '',
      vSwitchId: i.vpcAttributes?.vSwitchId ?? '',
      enis: (i.networkInterfaces?.networkInterface ?? []).map((n) => ({ id: n.networkInterfaceId ?? '', type: n.type ?? '' })),
    }));
    return { instances, requestId };
  }

  async instanceStatus(instanceId: string): Promise<{ status?: string; requestId?: string }> {
    const { body, requestId } = await this.call('DescribeInstanceStatus', (rt) =>
      this.client.describeInstanceStatusWithOptions(new Ecs.DescribeInstanceStatusRequest({ regionId: this.regionId, instanceId: [instanceId], pageSize: 50 }), rt),
    );
    const hit = (body.instanceStatuses?.instanceStatus ?? []).find((s) => s.instanceId === instanceId);
    return { status: hit?.status, requestId };
  }

  /**
   * A vSwitch and its CIDR block. ECS API DescribeVSwitches (2014-05-26, which the VPC API's
   * DescribeVSwitches supersedes with the same fields; RAM action vpc:DescribeVSwitches).
   */
  async describeVSwitch(vSwitchId: string): Promise<{ vswitch?: { id: string; cidr: string; zoneId: string; vpcId: string }; requestId?: string }> {
    const { body, requestId } = await this.call('DescribeVSwitches', (rt) =>
      this.client.describeVSwitchesWithOptions(new Ecs.DescribeVSwitchesRequest({ regionId: this.regionId, vSwitchId, pageSize: 50 }), rt),
    );
    const hit = (body.vSwitches?.vSwitch ?? []).find((v) => v.vSwitchId === vSwitchId);
    return { vswitch: hit ? { id: hit.vSwitchId!, cidr: hit.cidrBlock ?? '', zoneId: hit.zoneId ?? '', vpcId: hit.vpcId ?? '' } : undefined, requestId };
  }

  async attach(eniId: string, instanceId: string): Promise<{ requestId?: string }> {
    const { requestId } = await this.call('AttachNetworkInterface', (rt) =>
      this.client.attachNetworkInterfaceWithOptions(new Ecs.AttachNetworkInterfaceRequest({ regionId: this.regionId, networkInterfaceId: eniId, instanceId }), rt),
    );
    return { requestId };
  }

  async detach(eniId: string, instanceId: string): Promise<{ requestId?: string }> {
    const { requestId } = await this.call('DetachNetworkInterface', (rt) =>
      this.client.detachNetworkInterfaceWithOptions(new Ecs.DetachNetworkInterfaceRequest({ regionId: this.regionId, networkInterfaceId: eniId, instanceId }), rt),
    );
    return { requestId };
  }

  /**
   * StopInstance ForceStop=true in standard mode (StoppedMode=KeepCharging): in economical
   * mode a stopped pay-as-you-go instance gives up its compute resources and may not start
   * again, which would turn a fence into the loss of the old master's host.
   */
  async forceStop(instanceId: string): Promise<{ requestId?: string }> {
    const { requestId } = await this.call('StopInstance', (rt) =>
      this.client.stopInstanceWithOptions(new Ecs.StopInstanceRequest({ instanceId, forceStop: true, stoppedMode: 'KeepCharging' }), rt),
    );
    return { requestId };
  }

  /**
   * StopInstance with DryRun=true (the force-stop heir would send): the endpoint checks the
   * request, the caller's permission and the instance's status without stopping anything,
   * and answers DryRunOperation when the real call would be accepted. Resolves then;
   * rejects with the error that the real call would meet otherwise.
   */
  async forceStopDryRun(instanceId: string): Promise<{ requestId?: string }> {
    try {
      await this.call('StopInstance', (rt) =>
        this.client.stopInstanceWithOptions(new Ecs.StopInstanceRequest({ instanceId, forceStop: true, stoppedMode: 'KeepCharging', dryRun: true }), rt),
      );
    } catch (err) {
      if (err instanceof EcsApiError && err.code === 'DryRunOperation') return { requestId: err.requestId };
      throw err;
    }
    throw new EcsApiError('StopInstance', 'api', 'DryRunIgnored', `StopInstance with DryRun=true on ${instanceId} was answered as a real stop`);
  }

  async assignIp(eniId: string, ip: string, clientToken: string): Promise<{ requestId?: string }> {
    const { requestId } = await this.call('AssignPrivateIpAddresses', (rt) =>
      this.client.assignPrivateIpAddressesWithOptions(new Ecs.AssignPrivateIpAddressesRequest({ regionId: this.regionId, networkInterfaceId: eniId, privateIpAddress: [ip], clientToken }), rt),
    );
    return { requestId };
  }

  async unassignIp(eniId: string, ip: string): Promise<{ requestId?: string }> {
    const { requestId } = await this.call('UnassignPrivateIpAddresses', (rt) =>
      this.client.unassignPrivateIpAddressesWithOptions(new Ecs.UnassignPrivateIpAddressesRequest({ regionId: this.regionId, networkInterfaceId: eniId, privateIpAddress: [ip] }), rt),
    );
    return { requestId };
  }
}

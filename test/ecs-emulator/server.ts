/**
 * ECS API emulator: an HTTP(S) server the unmodified Alibaba Cloud SDK talks to
 * through its endpoint/protocol settings.
 *
 * - API endpoint (HTTPS with a generated CA by default; HTTP only when asked):
 *   RPC-style ECS actions, signatures verified (ACS3-HMAC-SHA256 header or legacy
 *   HMAC-SHA1 query signature), timestamps and nonces checked, STS tokens checked.
 * - Side endpoint (plain HTTP on loopback, separate port):
 *   GET  /__credentials        STS credentials, the JSON ALIBABA_CLOUD_CREDENTIALS_URI expects
 *   GET  /__control/state      instances, ENIs, delays
 *   GET  /__control/requests   the request log
 *   POST /__control            { op: ... } fault injection and state changes (see ControlOp)
 *
 * Fault modes (inject / ControlOp): throttle (Throttling.User, with x-acs-retry-after when
 * retryAfterMs is given), error (ServiceUnavailable or any code), conflict
 * (Operation.Conflict), latency, hang (the client's read timeout fires), reset; `lag` makes
 * every Describe answer from the state as it was that many ms ago; `deny` refuses actions
 * as a RAM policy without them would (Forbidden.SubUser); hungOs keeps a detach in Detaching
 * until the instance is force-stopped; `delays` makes a stop take tens of seconds.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError, ERRORS, errorBody, type ErrorCode } from './errors';
import { HAVIP_ACTIONS, HaVipApiError, HaVipService, VPC_API_VERSION, type HaVipOptions } from './havip';
import { SignatureFailure, verifyAcs3, verifyRpcHmacSha1, type ParsedRequest } from './signing';
import { EcsState, type Delays, type Eni, type Hooks, type Instance, type StateSnapshot, type VSwitch } from './state';
import { makeTls } from './tls';

export const API_VERSION = '2014-05-26';

export interface AccessKey {
  id: string;
  secret: string;
}

export interface FaultSpec {
  /** throttle: Throttling.User; error: a 5xx (ServiceUnavailable by default) or `code`;
   *  conflict: Operation.Conflict; latency: delay then answer; hang: never answer;
   *  reset: drop the connection. */
  kind: 'throttle' | 'error' | 'conflict' | 'latency' | 'hang' | 'reset';
  /** How many matching calls it applies to (default 1). */
  count?: number;
  /** Only these actions (default: all). */
  actions?: string[];
  code?: ErrorCode;
  ms?: number;
  /** throttle: the x-acs-retry-after header (ms), which the SDK reads as the wait before a retry. */
  retryAfterMs?: number;
}

export interface RequestRecord {
  seq: number;
  at: number;
  action: string;
  params: Record<string, string>;
  accessKeyId?: string;
  auth: 'ACS3-HMAC-SHA256' | 'HMAC-SHA1' | 'none';
  status: number;
  code?: string;
  requestId: string;
  durationMs: number;
  fault?: FaultSpec['kind'];
}

export type ControlOp =
  | ({ op: 'fault' } & FaultSpec)
  | { op: 'clearFaults' }
  | { op: 'hungOs'; instanceId: string; on: boolean }
  | { op: 'setInstance'; instance: Partial<Instance> & { id: string } }
  | { op: 'setEni'; eni: Partial<Eni> & { id: string } }
  | { op: 'setVSwitch'; vswitch: VSwitch }
  | { op: 'delays'; delays: Partial<Delays> }
  /** Describe* answer from the state as it was `ms` ago (0: current). */
  | { op: 'lag'; ms: number }
  /** Refuse these actions (for one AccessKeyId, or every caller) with Forbidden.SubUser; empty list: allow all again. */
  | { op: 'deny'; actions: string[]; accessKeyId?: string }
  | { op: 'clearRequests' };

export interface EmulatorOptions {
  state: StateSnapshot;
  /** AccessKey pairs accepted (long-term keys). */
  keys?: AccessKey[];
  protocol?: 'https' | 'http';
  host?: string;
  port?: number;
  controlPort?: number;
  /** Where the generated CA and certificate go (default: a temp dir removed on close). */
  tlsDir?: string;
  /** Names the certificate is valid for (default 127.0.0.1, localhost, and host). */
  tlsNames?: string[];
  hooks?: Hooks;
  /** Lifetime of STS credentials served on /__credentials (default 3600 s). */
  stsDurationS?: number;
  /** Long-term key the served STS credentials derive from; default the first of keys. */
  clockSkewS?: number;
  /** Serve the VPC API's HaVip actions too (havip.ts). */
  havip?: HaVipOptions;
}

export interface EcsEmulator {
  /** host:port, for heir.cloud.endpoint / the SDK's endpoint. */
  endpoint: string;
  protocol: 'https' | 'http';
  port: number;
  caFile?: string;
  caPem?: string;
  controlUrl: string;
  credentialsUri: string;
  /** How many times /__credentials has been fetched. */
  readonly credentialFetches: number;
  regionId: string;
  state: EcsState;
  /** The HaVips, when started with `havip`. */
  havip?: HaVipService;
  requests: RequestRecord[];
  keys: AccessKey[];
  inject(f: FaultSpec): void;
  clearFaults(): void;
  control(op: ControlOp): unknown;
  /** Wait until a condition on the state holds (bounded). */
  waitFor(pred: (s: EcsState) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const ACTIONS = new Set([
  'AttachNetworkInterface',
  'DetachNetworkInterface',
  'DescribeNetworkInterfaces',
  'DescribeNetworkInterfaceAttribute',
  'AssignPrivateIpAddresses',
  'UnassignPrivateIpAddresses',
  'StopInstance',
  'StartInstance',
  'RebootInstance',
  'DescribeInstances',
  'DescribeInstanceStatus',
  'DescribeVSwitches',
]);

const MAX_SKEW_MS = 15 * 60 * 1000;

function isoNoMillis(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function toRecord(p: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of p) out[k] = v;
  return out;
}

/** Collect a repeat-list parameter: Name.1, Name.2, ... */
function repeatList(params: Record<string, string>, name: string): string[] {
  const out: { i: number; v: string }[] = [];
  for (const [k, v] of Object.entries(params)) {
    const m = new RegExp(`^${name.replace('.', '\\.')}\\.(\\d+)$`).exec(k);
    if (m) out.push({ i: Number(m[1]), v });
  }
  return out.sort((a, b) => a.i - b.i).map((x) => x.v);
}

function required(params: Record<string, string>, name: string): string {
  const v = params[name];
  if (v === undefined || v === '') throw new ApiError('MissingParameter', `The input parameter "${name}" that is mandatory for processing this request is not supplied.`);
  return v;
}

function bool(v: string | undefined): boolean {
  return v === 'true' || v === 'True' || v === '1';
}

function page<T>(items: T[], params: Record<string, string>): { items: T[]; PageNumber: number; PageSize: number; TotalCount: number } {
  const PageNumber = Math.max(1, Number(params.PageNumber ?? 1) || 1);
  const PageSize = Math.min(100, Math.max(1, Number(params.PageSize ?? 10) || 10));
  return { items: items.slice((PageNumber - 1) * PageSize, PageNumber * PageSize), PageNumber, PageSize, TotalCount: items.length };
}

function eniView(e: Eni): Record<string, unknown> {
  const ips = [{ PrivateIpAddress: e.privateIp, Primary: true }, ...(e.secondaryIps ?? []).map((ip) => ({ PrivateIpAddress: ip, Primary: false }))];
  return {
    NetworkInterfaceId: e.id,
    NetworkInterfaceName: e.name ?? '',
    Status: e.status,
    Type: e.type,
    VpcId: e.vpc,
    VSwitchId: e.vswitch,
    ZoneId: e.zone,
    PrivateIpAddress: e.privateIp,
    MacAddress: e.mac ?? '00:16:3e:00:00:00',
    InstanceId: e.instanceId ?? '',
    PrivateIpSets: { PrivateIpSet: ips },
    SecurityGroupIds: { SecurityGroupId: [] },
    CreationTime: '2024-01-01T00:00:00Z',
    Description: '',
  };
}

export async function startEcsEmulator(o: EmulatorOptions): Promise<EcsEmulator> {
  const protocol = o.protocol ?? 'https';
  const host = o.host ?? '127.0.0.1';
  const keys = o.keys ?? [{ id: 'LTAI5tHeirEmulatorKey', secret: 'heir-emulator-secret-0000000000' }];
  const state = new EcsState(o.state);
  const emptyRegion = new EcsState({ region: o.state.region, instances: [], enis: [] });
  state.hooks = o.hooks ?? {};
  const havip = o.havip ? new HaVipService(state, o.havip) : undefined;
  const requests: RequestRecord[] = [];
  let faults: (FaultSpec & { remaining: number })[] = [];
  const nonces = new Map<string, number>();
  const sts = new Map<string, { secret: string; token: string; expiresAt: number }>();
  const clientTokens = new Map<string, unknown>();
  const hung = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  let seq = 0;
  let lagMs = 0;
  let denied: { actions: string[]; accessKeyId?: string } | undefined;
  let credentialFetches = 0;

  let tlsDir: string | undefined;
  let ownTlsDir = false;
  let tls: ReturnType<typeof makeTls> | undefined;
  if (protocol === 'https') {
    tlsDir = o.tlsDir ?? mkdtempSync(join(tmpdir(), 'heir-ecs-emu-tls-'));
    ownTlsDir = !o.tlsDir;
    tls = makeTls(tlsDir, o.tlsNames ?? [...new Set(['127.0.0.1', 'localhost', host])]);
  }

  function secretOf(id: string): string | undefined {
    const k = keys.find((x) => x.id === id);
    if (k) return k.secret;
    return sts.get(id)?.secret;
  }

  function checkSecurityToken(accessKeyId: string, token: string | undefined): void {
    const s = sts.get(accessKeyId);
    if (!s) {
      if (token) throw new ApiError('InvalidSecurityToken.MismatchWithAccessKey', `AccessKeyId ${accessKeyId} is not a temporary key.`);
      return;
    }
    if (!token) throw new ApiError('InvalidSecurityToken.MismatchWithAccessKey', 'A temporary AccessKey requires its SecurityToken.');
    if (token !== s.token) throw new ApiError('InvalidSecurityToken.MismatchWithAccessKey');
    if (Date.now() > s.expiresAt) throw new ApiError('InvalidSecurityToken.Expired');
  }

  function checkFreshness(stamp: string, nonce: string): void {
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(stamp)) throw new ApiError('InvalidTimeStamp.Format', `Got ${stamp}.`);
    const t = Date.parse(stamp) + (o.clockSkewS ?? 0) * 1000;
    if (Math.abs(Date.now() - t) > MAX_SKEW_MS) throw new ApiError('InvalidTimeStamp.Expired', `Got ${stamp}.`);
    const now = Date.now();
    for (const [n, at] of nonces) if (now - at > MAX_SKEW_MS) nonces.delete(n);
    if (nonces.has(nonce)) throw new ApiError('SignatureNonceUsed', `Nonce ${nonce}.`);
    nonces.set(nonce, now);
  }

  function takeFault(action: string): (FaultSpec & { remaining: number }) | undefined {
    const f = faults.find((x) => x.remaining > 0 && (!x.actions || x.actions.includes(action)));
    if (!f) return undefined;
    f.remaining -= 1;
    faults = faults.filter((x) => x.remaining > 0);
    return f;
  }

  // ---- actions ----------------------------------------------------------------------

  function dispatch(action: string, p: Record<string, string>): Record<string, unknown> {
    const needsRegion = !['StopInstance', 'StartInstance', 'RebootInstance'].includes(action);
    if (needsRegion) required(p, 'RegionId');
    const current = p.RegionId === undefined || p.RegionId === state.region ? state : emptyRegion;
    // A Describe may answer from a past state (the `lag` fault); a mutation always acts on the current one.
    const st = lagMs > 0 && action.startsWith('Describe') && current === state ? state.viewAt(Date.now() - lagMs) : current;
    switch (action) {
      case 'AttachNetworkInterface':
        st.attach(required(p, 'NetworkInterfaceId'), required(p, 'InstanceId'));
        return {};
      case 'DetachNetworkInterface':
        st.detach(required(p, 'NetworkInterfaceId'), required(p, 'InstanceId'));
        return {};
      case 'DescribeNetworkInterfaces': {
        const ids = repeatList(p, 'NetworkInterfaceId');
        let list = [...st.enis.values()];
        if (ids.length) list = list.filter((e) => ids.includes(e.id));
        if (p.InstanceId) list = list.filter((e) => e.instanceId === p.InstanceId);
        if (p.VpcId) list = list.filter((e) => e.vpc === p.VpcId);
        if (p.VSwitchId) list = list.filter((e) => e.vswitch === p.VSwitchId);
        if (p.Type) list = list.filter((e) => e.type === p.Type);
        if (p.Status) list = list.filter((e) => e.status === p.Status);
        if (p.PrimaryIpAddress) list = list.filter((e) => e.privateIp === p.PrimaryIpAddress);
        const pg = page(list, p);
        return { TotalCount: pg.TotalCount, PageNumber: pg.PageNumber, PageSize: pg.PageSize, NextToken: '', NetworkInterfaceSets: { NetworkInterfaceSet: pg.items.map(eniView) } };
      }
      case 'DescribeNetworkInterfaceAttribute': {
        const e = st.eni(required(p, 'NetworkInterfaceId'));
        const v = eniView(e);
        return { ...v, Attachment: e.instanceId ? { InstanceId: e.instanceId, DeviceIndex: 1 } : {} };
      }
      case 'AssignPrivateIpAddresses': {
        const eniId = required(p, 'NetworkInterfaceId');
        const token = p.ClientToken;
        if (token && clientTokens.has(`assign:${token}`)) return clientTokens.get(`assign:${token}`) as Record<string, unknown>;
        const ips = repeatList(p, 'PrivateIpAddress');
        if (!ips.length) throw new ApiError('MissingParameter', 'The input parameter "PrivateIpAddress" that is mandatory for processing this request is not supplied.');
        st.assignIps(eniId, ips);
        const out = { AssignedPrivateIpAddressesSet: { NetworkInterfaceId: eniId, PrivateIpSet: { PrivateIpAddress: ips } } };
        if (token) clientTokens.set(`assign:${token}`, out);
        return out;
      }
      case 'UnassignPrivateIpAddresses': {
        const ips = repeatList(p, 'PrivateIpAddress');
        if (!ips.length) throw new ApiError('MissingParameter', 'The input parameter "PrivateIpAddress" that is mandatory for processing this request is not supplied.');
        st.unassignIps(required(p, 'NetworkInterfaceId'), ips);
        return {};
      }
      case 'StopInstance': {
        // ECS API StopInstance: StoppedMode StopCharging | KeepCharging; DryRun checks the
        // request (parameters, permission, instance status) and answers DryRunOperation.
        const mode = p.StoppedMode;
        if (mode !== undefined && mode !== 'StopCharging' && mode !== 'KeepCharging') throw new ApiError('InvalidParameter', `StoppedMode ${mode}.`);
        const id = required(p, 'InstanceId');
        if (bool(p.DryRun)) {
          st.checkStoppable(st.instance(id));
          throw new ApiError('DryRunOperation');
        }
        st.stopInstance(id, bool(p.ForceStop), mode);
        return {};
      }
      case 'DescribeVSwitches': {
        // ECS API DescribeVSwitches (2014-05-26; the VPC API's DescribeVSwitches answers the same fields).
        let list = [...st.vswitches.values()];
        if (p.VSwitchId) list = list.filter((v) => v.id === p.VSwitchId);
        if (p.VpcId) list = list.filter((v) => v.vpc === p.VpcId);
        if (p.ZoneId) list = list.filter((v) => v.zone === p.ZoneId);
        const pg = page(list, { ...p, PageSize: p.PageSize ?? '10' });
        return {
          TotalCount: pg.TotalCount,
          PageNumber: pg.PageNumber,
          PageSize: pg.PageSize,
          VSwitches: { VSwitch: pg.items.map((v) => ({ VSwitchId: v.id, VpcId: v.vpc, ZoneId: v.zone, CidrBlock: v.cidr, Status: 'Available', VSwitchName: v.id, IsDefault: false })) },
        };
      }
      case 'StartInstance':
        st.startInstance(required(p, 'InstanceId'));
        return {};
      case 'RebootInstance':
        st.rebootInstance(required(p, 'InstanceId'), bool(p.ForceStop));
        return {};
      case 'DescribeInstances': {
        let list = [...st.instances.values()];
        if (p.InstanceIds) {
          let ids: unknown;
          try {
            ids = JSON.parse(p.InstanceIds);
          } catch {
            throw new ApiError('InvalidInstanceIds.Malformed', `Got ${p.InstanceIds}.`);
          }
          if (!Array.isArray(ids)) throw new ApiError('InvalidInstanceIds.Malformed', `Got ${p.InstanceIds}.`);
          list = list.filter((i) => (ids as unknown[]).includes(i.id));
        }
        if (p.ZoneId) list = list.filter((i) => i.zone === p.ZoneId);
        if (p.VpcId) list = list.filter((i) => i.vpc === p.VpcId);
        if (p.Status) list = list.filter((i) => i.status === p.Status);
        const pg = page(list, p);
        return {
          TotalCount: pg.TotalCount,
          PageNumber: pg.PageNumber,
          PageSize: pg.PageSize,
          NextToken: '',
          Instances: {
            Instance: pg.items.map((i) => {
              const enis = st.enisOf(i.id);
              const primary = enis.find((e) => e.type === 'Primary');
              return {
                InstanceId: i.id,
                InstanceName: i.name ?? i.id,
                RegionId: st.region,
                ZoneId: i.zone,
                Status: i.status,
                InstanceNetworkType: 'vpc',
                VpcAttributes: { VpcId: i.vpc, VSwitchId: i.vswitch, PrivateIpAddress: { IpAddress: primary ? [primary.privateIp] : [] } },
                NetworkInterfaces: { NetworkInterface: enis.map((e) => ({ NetworkInterfaceId: e.id, Type: e.type, PrimaryIpAddress: e.privateIp, MacAddress: e.mac ?? '' })) },
              };
            }),
          },
        };
      }
      case 'DescribeInstanceStatus': {
        const ids = repeatList(p, 'InstanceId');
        let list = [...st.instances.values()];
        if (ids.length) list = list.filter((i) => ids.includes(i.id));
        if (p.ZoneId) list = list.filter((i) => i.zone === p.ZoneId);
        const pg = page(list, { ...p, PageSize: p.PageSize ?? '10' });
        return { TotalCount: pg.TotalCount, PageNumber: pg.PageNumber, PageSize: pg.PageSize, InstanceStatuses: { InstanceStatus: pg.items.map((i) => ({ InstanceId: i.id, Status: i.status })) } };
      }
      default:
        throw new ApiError('InvalidAction.NotFound', `Action ${action}.`);
    }
  }

  // ---- HTTP -------------------------------------------------------------------------

  function send(res: ServerResponse, status: number, body: unknown, requestId: string, extra: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json;charset=utf-8', 'x-acs-request-id': requestId, 'content-length': Buffer.byteLength(text), ...extra });
    res.end(text);
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const requestId = randomUUID().toUpperCase();
    const hostId = (req.headers.host ?? 'ecs.aliyuncs.com').split(':')[0]!;
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://x');
    const query = toRecord(url.searchParams);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v;
    const form = (headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded') ? toRecord(new URLSearchParams(body.toString('utf8'))) : {};
    const parsed: ParsedRequest = { method: req.method ?? 'GET', pathname: url.pathname, query, headers, body };
    const acs3 = (headers['authorization'] ?? '').startsWith('ACS3-');
    const action = (acs3 ? headers['x-acs-action'] : query.Action) ?? '';
    const version = (acs3 ? headers['x-acs-version'] : query.Version) ?? '';
    const params: Record<string, string> = { ...query, ...form };
    for (const k of ['Action', 'Version', 'Format', 'Timestamp', 'SignatureNonce', 'SignatureMethod', 'SignatureVersion', 'Signature', 'AccessKeyId', 'SecurityToken']) delete params[k];
    const rec: RequestRecord = { seq: ++seq, at: started, action, params, auth: acs3 ? 'ACS3-HMAC-SHA256' : query.Signature ? 'HMAC-SHA1' : 'none', status: 200, requestId, durationMs: 0 };
    requests.push(rec);
    const fail = (status: number, code: string, message: string, extra: Record<string, string> = {}) => {
      rec.status = status;
      rec.code = code;
      rec.durationMs = Date.now() - started;
      send(res, status, errorBody(code, message, requestId, hostId), requestId, extra);
    };
    try {
      // 1. authenticate
      if (acs3) {
        const { accessKeyId } = verifyAcs3(parsed, secretOf);
        rec.accessKeyId = accessKeyId;
        checkSecurityToken(accessKeyId, headers['x-acs-security-token']);
        checkFreshness(headers['x-acs-date']!, headers['x-acs-signature-nonce']!);
      } else if (query.Signature || query.SignatureMethod) {
        const { accessKeyId } = verifyRpcHmacSha1(parsed, form, secretOf);
        rec.accessKeyId = accessKeyId;
        checkSecurityToken(accessKeyId, query.SecurityToken);
        checkFreshness(query.Timestamp!, query.SignatureNonce!);
      } else {
        throw new SignatureFailure('IncompleteSignature', 'The request signature does not conform to Aliyun standards: no Authorization header and no Signature parameter.');
      }
      // 2. product and action
      const vpc = havip !== undefined && version === VPC_API_VERSION;
      if (version !== API_VERSION && !vpc) throw new ApiError('InvalidVersion', `Got ${version}, ECS is ${API_VERSION}.`);
      if (!(vpc ? HAVIP_ACTIONS : ACTIONS).has(action)) throw new ApiError('InvalidAction.NotFound', `Action ${action}.`);
      // 3. injected faults
      const f = takeFault(action);
      if (f) {
        rec.fault = f.kind;
        if (f.kind === 'latency') await new Promise((r) => setTimeout(r, f.ms ?? 1000));
        else if (f.kind === 'hang') {
          rec.status = 0;
          hung.add(res);
          return;
        } else if (f.kind === 'reset') {
          rec.status = 0;
          req.socket.destroy();
          return;
        } else if (f.kind === 'throttle') throw new ApiError(f.code ?? 'Throttling.User', undefined, f.retryAfterMs !== undefined ? { 'x-acs-retry-after': String(f.retryAfterMs) } : {});
        else if (f.kind === 'conflict') throw new ApiError('Operation.Conflict');
        else if (f.kind === 'error') throw new ApiError(f.code ?? 'ServiceUnavailable');
      }
      // 3b. authorization: a RAM policy without the action
      if (denied && denied.actions.includes(action) && (!denied.accessKeyId || denied.accessKeyId === rec.accessKeyId)) {
        throw new ApiError('Forbidden.SubUser', `${rec.accessKeyId ?? 'The caller'} may not call ${action} (ecs:${action}).`);
      }
      // 4. the action
      const out = vpc ? havip.dispatch(action, params) : dispatch(action, params);
      rec.durationMs = Date.now() - started;
      send(res, 200, { RequestId: requestId, ...out }, requestId);
    } catch (err) {
      if (err instanceof SignatureFailure) {
        const spec = ERRORS[err.code];
        fail(spec.status, err.code, err.message);
      } else if (err instanceof ApiError) {
        fail(err.status, err.code, err.message, err.headers);
      } else if (err instanceof HaVipApiError) {
        fail(err.status, err.code, err.message);
      } else {
        fail(500, 'InternalError', `${ERRORS.InternalError.message} ${(err as Error).message}`);
      }
    }
  }

  function control(op: ControlOp): unknown {
    switch (op.op) {
      case 'fault': {
        const { op: _op, ...spec } = op;
        faults.push({ ...spec, remaining: spec.count ?? 1 });
        return { faults: faults.length };
      }
      case 'clearFaults':
        faults = [];
        lagMs = 0;
        denied = undefined;
        return {};
      case 'hungOs':
        state.instance(op.instanceId).hungOs = op.on;
        return {};
      case 'setInstance': {
        const cur = state.instances.get(op.instance.id);
        if (cur) Object.assign(cur, op.instance);
        else state.instances.set(op.instance.id, { zone: '', vpc: '', vswitch: '', status: 'Running', ...op.instance } as Instance);
        state.note(`${op.instance.id} set by control`);
        return {};
      }
      case 'setEni': {
        const cur = state.enis.get(op.eni.id);
        if (cur) Object.assign(cur, op.eni);
        else state.enis.set(op.eni.id, { type: 'Secondary', zone: '', vpc: '', vswitch: '', privateIp: '', status: 'Available', ...op.eni } as Eni);
        state.note(`${op.eni.id} set by control`);
        return {};
      }
      case 'setVSwitch':
        state.vswitches.set(op.vswitch.id, { ...op.vswitch });
        state.note(`${op.vswitch.id} set by control`);
        return {};
      case 'lag':
        lagMs = Math.max(0, op.ms);
        return { lagMs };
      case 'deny':
        denied = op.actions.length ? { actions: [...op.actions], ...(op.accessKeyId ? { accessKeyId: op.accessKeyId } : {}) } : undefined;
        return {};
      case 'delays':
        Object.assign(state.delays, op.delays);
        return { delays: state.delays };
      case 'clearRequests':
        requests.length = 0;
        return {};
      default:
        throw new Error(`unknown control op ${(op as { op: string }).op}`);
    }
  }

  async function handleSide(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const json = (status: number, body: unknown) => {
      const text = JSON.stringify(body, null, 1);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(text);
    };
    try {
      if (req.method === 'GET' && url.pathname === '/__credentials') {
        credentialFetches += 1;
        const base = keys[0]!;
        const id = `STS.${randomBytes(8).toString('hex')}`;
        const secret = randomBytes(15).toString('base64');
        const token = `CAIS${randomBytes(24).toString('base64')}`;
        const expiresAt = Date.now() + (o.stsDurationS ?? 3600) * 1000;
        sts.set(id, { secret, token, expiresAt });
        return json(200, { Code: 'Success', AccessKeyId: id, AccessKeySecret: secret, SecurityToken: token, Expiration: isoNoMillis(expiresAt), LastUpdated: isoNoMillis(Date.now()), From: base.id });
      }
      if (req.method === 'GET' && url.pathname === '/__control/state') return json(200, { ...state.snapshot(), events: state.events });
      if (req.method === 'GET' && url.pathname === '/__control/requests') return json(200, requests);
      if (req.method === 'POST' && url.pathname === '/__control') {
        const body = JSON.parse((await readBody(req)).toString('utf8') || '{}') as ControlOp;
        return json(200, control(body) ?? {});
      }
      json(404, { error: `no such path ${url.pathname}` });
    } catch (err) {
      json(400, { error: (err as Error).message });
    }
  }

  const api: Server =
    protocol === 'https'
      ? createHttpsServer({ key: tls!.key, cert: tls!.cert }, (q, s) => void handleApi(q, s))
      : createHttpServer((q, s) => void handleApi(q, s));
  api.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  api.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const side = createHttpServer((q, s) => void handleSide(q, s));
  const listen = (srv: Server, port: number) =>
    new Promise<number>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, host, () => resolve((srv.address() as { port: number }).port));
    });
  const port = await listen(api, o.port ?? 0);
  const controlPort = await listen(side, o.controlPort ?? 0);
  const sideBase = `http://${host}:${controlPort}`;

  const emu: EcsEmulator = {
    endpoint: `${host}:${port}`,
    protocol,
    port,
    caFile: tls?.caFile,
    caPem: tls?.caPem,
    controlUrl: `${sideBase}/__control`,
    credentialsUri: `${sideBase}/__credentials`,
    get credentialFetches() {
      return credentialFetches;
    },
    regionId: state.region,
    state,
    havip,
    requests,
    keys,
    inject: (f) => void control({ op: 'fault', ...f }),
    clearFaults: () => void control({ op: 'clearFaults' }),
    control,
    async waitFor(pred, timeoutMs = 30000) {
      const deadline = Date.now() + timeoutMs;
      while (!pred(state)) {
        if (Date.now() > deadline) throw new Error(`emulator state did not reach the expected condition within ${timeoutMs} ms: ${JSON.stringify(state.snapshot())}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      state.stop();
      havip?.stop();
      for (const r of hung) r.destroy();
      for (const s of sockets) s.destroy();
      await Promise.all([new Promise((r) => api.close(() => r(null))), new Promise((r) => side.close(() => r(null)))]);
      if (ownTlsDir && tlsDir) rmSync(tlsDir, { recursive: true, force: true });
    },
  };
  return emu;
}

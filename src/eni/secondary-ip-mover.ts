/**
 * The `secondary-ip` mover: the application's address is a secondary private IP
 * moved between the nodes' primary ENIs (UnassignPrivateIpAddresses from the old
 * master's ENI, AssignPrivateIpAddresses with a ClientToken to the new one's).
 * The guest must bring the address up itself (post_attach_command).
 */
import { createHash } from 'node:crypto';
import { BlockList, isIPv4 } from 'node:net';
import type { ClusterConfig, CloudSettings, NodeConfig } from '../config/schema';
import { sshExec, sshTarget } from '../ssh';
import { silentLogger, type Logger } from '../util/log';
import { EcsApi, EcsApiError, isPermissionDenied, ramAction, type EniInfo } from './ecs-api';
import { Deadline, DEFAULT_BACKOFF, isTransient, retryDelayMs, sleep, worthReconverging } from './retry';
import type { AddressMover, AddressStatus, ApiCallRecord, MoveContext, MoveOutcome, PreflightResult } from './types';
import { verifyAddress } from './verify';

type SecondaryIpAddress = Extract<ClusterConfig['address'], { type: 'secondary-ip' }>;

/** Every RAM action the secondary-ip mover calls. */
export const SECONDARY_IP_ACTIONS = ['ecs:DescribeNetworkInterfaces', 'ecs:AssignPrivateIpAddresses', 'ecs:UnassignPrivateIpAddresses', 'vpc:DescribeVSwitches (preflight)'];

/** A failed call for the operator: action, code, RequestId, message, and the missing permission when RAM refused it. */
function failureText(err: unknown): string {
  if (!(err instanceof EcsApiError)) return (err as Error)?.message ?? String(err);
  const base = `${err.action} failed: ${err.code}${err.requestId ? `, RequestId ${err.requestId}` : ''}: ${err.message}`;
  return isPermissionDenied(err) ? `${base} — the RAM policy of heir's credentials does not grant ${ramAction(err.action)}; the secondary-ip mover needs ${SECONDARY_IP_ACTIONS.join(', ')}, see docs/RAM-POLICY.md` : base;
}

/** Whether an IPv4 CIDR block (a.b.c.d/n) holds an address. */
export function cidrHolds(cidr: string, ip: string): boolean {
  const [base, bits] = cidr.split('/');
  if (!base || !isIPv4(base) || !isIPv4(ip)) return false;
  const list = new BlockList();
  list.addSubnet(base, Number(bits ?? 32), 'ipv4');
  return list.check(ip, 'ipv4');
}

/**
 * When this process last assigned or unassigned each floating address. A Describe sent less
 * than cloud.describe_lag_ms later may show the holders from before that change; holders()
 * waits the rest of that time first, so no conclusion is drawn from a stale answer.
 */
const lastMutationAt = new Map<string, number>();

export class SecondaryIpMover implements AddressMover {
  readonly kind = 'secondary-ip' as const;
  private readonly addr: SecondaryIpAddress;

  constructor(
    private readonly cluster: ClusterConfig,
    private readonly cloud: CloudSettings,
    private readonly log: Logger = silentLogger,
    private readonly makeApi: (journal: ApiCallRecord[]) => EcsApi = (j) => new EcsApi(cloud, j),
    private readonly pollMs = 500,
  ) {
    if (cluster.address.type !== 'secondary-ip') throw new Error(`cluster ${cluster.name}: address.type is ${cluster.address.type}, not secondary-ip`);
    this.addr = cluster.address;
  }

  private eniOf(node: NodeConfig): string {
    const id = this.addr.enis[node.name];
    if (!id) throw new Error(`address.enis has no ENI for node ${node.name}`);
    return id;
  }

  private nodeOfEni(eniId: string): string | undefined {
    return Object.entries(this.addr.enis).find(([, id]) => id === eniId)?.[0];
  }

  /** Which of the cluster's ENIs hold the floating IP now (as of this process's last change of it). */
  private async holders(api: EcsApi, deadline: Deadline, signal?: AbortSignal): Promise<EniInfo[]> {
    const at = lastMutationAt.get(this.addr.floating_ip);
    const lagLeft = at === undefined ? 0 : at + this.cloud.describe_lag_ms - Date.now();
    if (lagLeft > 0) await sleep(Math.min(lagLeft, deadline.remaining()), signal);
    for (let attempt = 0; ; attempt++) {
      try {
        const { enis } = await api.describeEnis(Object.values(this.addr.enis));
        return enis.filter((e) => e.secondaryIps.includes(this.addr.floating_ip));
      } catch (err) {
        if (!(err instanceof EcsApiError)) throw err;
        const wait = retryDelayMs(attempt, err, DEFAULT_BACKOFF);
        if (!isTransient(err, 'describe') || deadline.remaining() <= wait) throw err;
        await sleep(wait, signal);
      }
    }
  }

  private async converge(ctx: MoveContext, what: string, body: (api: EcsApi, d: Deadline) => Promise<{ action: string; detail: string }>): Promise<MoveOutcome> {
    const journal: ApiCallRecord[] = [];
    const deadline = new Deadline(this.cloud.operation_timeout_s * 1000);
    const log = (ctx.log ?? this.log).child({ cluster: this.cluster.name, mover: 'secondary-ip', step: what });
    try {
      const api = this.makeApi(journal);
      api.budget = () => deadline.remaining();
      const r = await body(api, deadline);
      log.info({ apiCalls: journal.length }, r.detail);
      return { ok: true, action: r.action, detail: r.detail, durationMs: deadline.elapsed(), apiCalls: journal };
    } catch (err) {
      const e = err as EcsApiError;
      const detail = `${what} of ${this.addr.floating_ip}: ${failureText(err)}`;
      log.error({ code: e.code }, detail);
      return { ok: false, action: 'failed', detail, durationMs: deadline.elapsed(), apiCalls: journal, code: e.code ?? 'Error' };
    }
  }

  /** Unassign the IP from every holder except `keep`, until none is left. */
  private async release(api: EcsApi, d: Deadline, keep: string | undefined, signal?: AbortSignal): Promise<string[]> {
    const released: string[] = [];
    for (let attempt = 0; ; ) {
      const others = (await this.holders(api, d, signal)).filter((e) => e.id !== keep);
      if (!others.length) return released;
      if (d.expired()) throw new Error(`still on ${others.map((e) => e.id).join(', ')} when cloud.operation_timeout_s ran out`);
      for (const e of others) {
        try {
          await api.unassignIp(e.id, this.addr.floating_ip);
          lastMutationAt.set(this.addr.floating_ip, Date.now());
          released.push(e.id);
        } catch (err) {
          if (!(err instanceof EcsApiError) || !(worthReconverging(err) || err.code === 'InvalidIp.IpUnassigned')) throw err;
          await sleep(Math.min(retryDelayMs(attempt++, err, DEFAULT_BACKOFF), d.remaining()), signal);
        }
      }
    }
  }

  fence(ctx: MoveContext): Promise<MoveOutcome> {
    return this.converge(ctx, 'fence', async (api, d) => {
      const keep = ctx.newMaster ? this.eniOf(ctx.newMaster) : undefined;
      const released = await this.release(api, d, keep, ctx.signal);
      return released.length
        ? { action: 'unassigned', detail: `${this.addr.floating_ip} unassigned from ${released.map((id) => `${id} (${this.nodeOfEni(id)})`).join(', ')}` }
        : { action: 'already-unassigned', detail: `${this.addr.floating_ip} is on none of the old masters' ENIs; nothing to do` };
    });
  }

  attach(ctx: MoveContext): Promise<MoveOutcome> {
    return this.converge(ctx, 'attach', async (api, d) => {
      if (!ctx.newMaster) throw new Error('no new master given');
      const n = ctx.newMaster;
      const target = this.eniOf(n);
      await this.release(api, d, target, ctx.signal);
      // One ClientToken per attach run: retries of this run are idempotent, a later run is a new request.
      const token = createHash('sha256').update(`${this.cluster.name}|${this.addr.floating_ip}|${target}|${Date.now()}`).digest('hex').slice(0, 60);
      let acted = false;
      for (let attempt = 0; ; ) {
        const held = (await this.holders(api, d, ctx.signal)).some((e) => e.id === target);
        if (held) break;
        if (d.expired()) throw new Error(`not assigned to ${target} within cloud.operation_timeout_s`);
        try {
          await api.assignIp(target, this.addr.floating_ip, token);
          lastMutationAt.set(this.addr.floating_ip, Date.now());
          acted = true;
        } catch (err) {
          if (!(err instanceof EcsApiError) || !worthReconverging(err)) throw err;
          await sleep(Math.min(retryDelayMs(attempt++, err, DEFAULT_BACKOFF), d.remaining(), Math.max(this.pollMs * 4, err.retryAfterMs ?? 0)), ctx.signal);
        }
      }
      const where = `${this.addr.floating_ip} ${acted ? 'assigned to' : 'already on'} ${target} (${n.name})`;
      if (this.addr.post_attach_command) {
        const t = sshTarget(this.cluster, n);
        const r = await sshExec(t, this.addr.post_attach_command, { timeoutMs: Math.max(1000, Math.min(t.commandTimeoutMs, d.remaining())) });
        if (r.code !== 0) throw new Error(`${where}, but post_attach_command exited ${r.code} on ${n.name}: ${(r.stderr || r.stdout).trim().slice(-400)}`);
      }
      if (this.addr.verify) {
        const v = await verifyAddress(this.cluster, n, this.addr.floating_ip, d, ctx.signal);
        if (!v.ok) throw new Error(`${where}, but the address does not reach the new master: ${v.detail}`);
        return { action: acted ? 'assigned' : 'already-assigned', detail: `${where}; verified: ${v.detail}` };
      }
      return { action: acted ? 'assigned' : 'already-assigned', detail: where };
    });
  }

  async status(ctx: Omit<MoveContext, 'newMaster'>): Promise<AddressStatus> {
    const journal: ApiCallRecord[] = [];
    try {
      const h = await this.holders(this.makeApi(journal), new Deadline(this.cloud.operation_timeout_s * 1000), ctx.signal);
      const s: AddressStatus = { kind: this.kind, address: this.addr.floating_ip, state: h.length === 1 ? 'Assigned' : h.length ? 'AssignedTwice' : 'Unassigned', settled: h.length === 1, detail: h.length ? `${this.addr.floating_ip} is on ${h.map((e) => `${e.id} (${this.nodeOfEni(e.id)})`).join(', ')}` : `${this.addr.floating_ip} is on none of the cluster's ENIs`, apiCalls: journal };
      if (h.length === 1) {
        s.eniId = h[0]!.id;
        if (h[0]!.instanceId) s.instanceId = h[0]!.instanceId;
        const holder = this.nodeOfEni(h[0]!.id);
        if (holder) s.holder = holder;
      }
      return s;
    } catch (err) {
      return { kind: this.kind, address: this.addr.floating_ip, state: 'unknown', settled: false, detail: (err as Error).message, apiCalls: journal };
    }
  }

  async preflight(cluster: ClusterConfig = this.cluster): Promise<PreflightResult[]> {
    const out: PreflightResult[] = [];
    for (const n of cluster.nodes) {
      const id = this.addr.enis[n.name];
      out.push({ check: `eni:${n.name}`, ok: !!id, severity: 'error', detail: id ? `${n.name} uses ENI ${id}` : `address.enis has no ENI for node ${n.name}` });
    }
    const journal: ApiCallRecord[] = [];
    try {
      const api = this.makeApi(journal);
      const { enis, requestId } = await api.describeEnis(Object.values(this.addr.enis));
      out.push({ check: 'credentials', ok: true, severity: 'error', detail: `the credential chain works (DescribeNetworkInterfaces RequestId ${requestId ?? 'none'})` });
      for (const [name, id] of Object.entries(this.addr.enis)) {
        const e = enis.find((x) => x.id === id);
        out.push({ check: `eni-exists:${name}`, ok: !!e, severity: 'error', detail: e ? `ENI ${id} of ${name} is ${e.status} on ${e.instanceId ?? 'no instance'}` : `ENI ${id} of ${name} does not exist in ${this.cloud.region_id}` });
      }
      const vpcs = new Set(enis.map((e) => e.vpcId));
      out.push({ check: 'same-vpc', ok: vpcs.size <= 1, severity: 'error', detail: vpcs.size <= 1 ? 'all ENIs are in one VPC' : `the ENIs span VPCs ${[...vpcs].join(', ')}; a private IP moves only within one vSwitch` });
      // A secondary private IP comes from the CIDR block of the ENI's vSwitch (AssignPrivateIpAddresses
      // answers InvalidVSwitchId.IpInvalid otherwise): every ENI must be in one vSwitch that holds the address.
      const vsws = [...new Set(enis.map((e) => e.vSwitchId))];
      out.push({
        check: 'same-vswitch',
        ok: vsws.length <= 1,
        severity: 'error',
        detail: vsws.length <= 1 ? `all ENIs are in vSwitch ${vsws[0] ?? '(none)'}` : `the ENIs span vSwitches ${enis.map((e) => `${e.id}: ${e.vSwitchId}`).join(', ')}; ${this.addr.floating_ip} can be assigned only to ENIs in the vSwitch whose CIDR block holds it`,
      });
      for (const id of vsws) {
        let found: Awaited<ReturnType<EcsApi['describeVSwitch']>>;
        try {
          found = await api.describeVSwitch(id);
        } catch (err) {
          out.push({ check: `vswitch:${id}`, ok: false, severity: 'error', detail: failureText(err) });
          continue;
        }
        const { vswitch, requestId: rid } = found;
        if (!vswitch) {
          out.push({ check: `vswitch:${id}`, ok: false, severity: 'error', detail: `vSwitch ${id} of the ENIs does not exist in ${this.cloud.region_id} (DescribeVSwitches RequestId ${rid ?? 'none'})` });
          continue;
        }
        const inside = cidrHolds(vswitch.cidr, this.addr.floating_ip);
        out.push({
          check: `address-in-vswitch:${id}`,
          ok: inside,
          severity: 'error',
          detail: inside
            ? `${this.addr.floating_ip} lies in vSwitch ${id} (${vswitch.cidr})`
            : `address.floating_ip ${this.addr.floating_ip} is outside vSwitch ${id} (${vswitch.cidr}): AssignPrivateIpAddresses would refuse it (InvalidVSwitchId.IpInvalid); pick an unused address of ${vswitch.cidr}`,
        });
      }
    } catch (err) {
      out.push({ check: 'credentials', ok: false, severity: 'error', detail: failureText(err) });
    }
    out.push({ check: 'permission:assign-unassign', ok: true, severity: 'warning', detail: 'ecs:AssignPrivateIpAddresses and ecs:UnassignPrivateIpAddresses cannot be tried here (the ECS API has no DryRun for them); check that the RAM policy grants them (docs/RAM-POLICY.md)' });
    return out;
  }
}

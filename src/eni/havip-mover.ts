/**
 * The `havip` mover: the application's address is an Alibaba Cloud HaVip (high-availability
 * virtual IP) associated with every node's instance in one vSwitch. The VPC delivers the
 * address to whichever associated instance announced it last by gratuitous ARP, so a move
 * needs no detach/attach cycle:
 *
 * fence:  over SSH, take the address down on the old master (`ip addr del`). When its
 *         host does not answer: UnassociateHaVip (Force) for the old instance, so the VPC
 *         stops delivering to it; if that fails and failover.stonith is on, StopInstance
 *         ForceStop=true and wait for Stopped.
 * attach: over SSH bring the address up (`ip addr replace`) and announce it (`arping -U`,
 *         then `-A`); alongside, AssociateHaVip for the new master's instance when it is
 *         not associated (up to the documented 10 instances), wait for InUse and announce
 *         again; verify through MySQL that floating_ip reaches the new master.
 */
import { createHash } from 'node:crypto';
import type { ClusterConfig, CloudSettings, NodeConfig } from '../config/schema';
import { sshExec, sshTarget } from '../ssh';
import { silentLogger, type Logger } from '../util/log';
import { EcsApi, EcsApiError } from './ecs-api';
import { backoffMs, Deadline, DEFAULT_BACKOFF, isTransient, sleep, worthReconverging } from './retry';
import type { AddressMover, AddressStatus, ApiCallRecord, MoveContext, MoveOutcome, PreflightResult } from './types';
import { verifyAddress } from './verify';
import { HAVIP_MAX_ASSOCIATIONS, VpcApi, type HaVipInfo } from './vpc-api';

type HaVipAddress = Extract<ClusterConfig['address'], { type: 'havip' }>;

/** VPC answers that mean "a change of this HaVip is under way: look again" (AssociateHaVip / UnassociateHaVip, VPC API 2016-04-28). */
const HAVIP_SETTLING = /^(IncorrectHaVipStatus|InvalidVip\.Status|OperationFailed\.DistibuteLock)$/;

/** Shell-quote one argument. */
function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function apiText(e: EcsApiError): string {
  return `${e.action} failed: ${e.statusCode ? `HTTP ${e.statusCode} ` : ''}${e.code}${e.requestId ? `, RequestId ${e.requestId}` : ''}: ${e.message}`;
}

function permissionHint(e: EcsApiError): string {
  return /^Forbidden|NoPermission/.test(e.code)
    ? ' — grant the RAM role vpc:DescribeHaVips, vpc:AssociateHaVip, vpc:UnassociateHaVip and ecs:DescribeInstances (ecs:StopInstance, ecs:DescribeInstanceStatus for stonith); see docs/RAM-POLICY.md'
    : '';
}

export class HaVipMover implements AddressMover {
  readonly kind = 'havip' as const;
  private readonly addr: HaVipAddress;

  constructor(
    private readonly cluster: ClusterConfig,
    private readonly cloud: CloudSettings,
    private readonly log: Logger = silentLogger,
    private readonly makeVpc: (journal: ApiCallRecord[]) => VpcApi = (j) => new VpcApi(cloud, j),
    private readonly makeEcs: (journal: ApiCallRecord[]) => EcsApi = (j) => new EcsApi(cloud, j),
    private readonly pollMs = 150,
  ) {
    if (cluster.address.type !== 'havip') throw new Error(`cluster ${cluster.name}: address.type is ${cluster.address.type}, not havip`);
    this.addr = cluster.address;
  }

  private instanceOf(n: NodeConfig): string {
    if (!n.instance_id) throw new Error(`node ${n.name} has no instance_id (the ECS instance the HaVip is associated with)`);
    return n.instance_id;
  }

  private label(instanceId: string): string {
    const n = this.cluster.nodes.find((x) => x.instance_id === instanceId);
    return n ? `${instanceId} (${n.name})` : instanceId;
  }

  private async describe(vpc: VpcApi, d: Deadline, signal?: AbortSignal): Promise<HaVipInfo> {
    for (let attempt = 0; ; attempt++) {
      try {
        const { havip } = await vpc.describeHaVip(this.addr.havip_id);
        if (!havip) throw new Error(`HaVip ${this.addr.havip_id} does not exist in ${this.cloud.region_id} (check address.havip_id and heir.cloud.region_id)`);
        return havip;
      } catch (err) {
        const wait = backoffMs(attempt, DEFAULT_BACKOFF);
        if (!(err instanceof EcsApiError) || !isTransient(err, 'describe') || d.remaining() <= wait) throw err;
        await sleep(wait, signal);
      }
    }
  }

  private async converge(ctx: MoveContext, what: 'fence' | 'attach', body: (d: Deadline, journal: ApiCallRecord[]) => Promise<{ action: string; detail: string }>): Promise<MoveOutcome> {
    const journal: ApiCallRecord[] = [];
    const deadline = new Deadline(this.cloud.operation_timeout_s * 1000);
    const log = (ctx.log ?? this.log).child({ cluster: this.cluster.name, mover: 'havip', step: what });
    try {
      const r = await body(deadline, journal);
      log.info({ apiCalls: journal.length, ms: deadline.elapsed() }, r.detail);
      return { ok: true, action: r.action, detail: r.detail, durationMs: deadline.elapsed(), apiCalls: journal };
    } catch (err) {
      const e = err as EcsApiError;
      const detail = `${what} of HaVip ${this.addr.havip_id} (${this.addr.floating_ip}): ${e instanceof EcsApiError ? apiText(e) + permissionHint(e) : (err as Error).message}`;
      log.error({ code: e.code }, detail);
      return { ok: false, action: 'failed', detail, durationMs: deadline.elapsed(), apiCalls: journal, code: e instanceof EcsApiError ? e.code : 'Error' };
    }
  }

  private api<T extends VpcApi | EcsApi>(make: (j: ApiCallRecord[]) => T, journal: ApiCallRecord[], d: Deadline): T {
    const a = make(journal);
    a.budget = () => d.remaining();
    return a;
  }

  /** Run one command on a node's host; throws with the command's output when it fails. */
  private async onHost(n: NodeConfig, command: string, d: Deadline): Promise<void> {
    const t = sshTarget(this.cluster, n);
    const r = await sshExec(t, command, { timeoutMs: Math.max(1000, Math.min(t.commandTimeoutMs, d.remaining())) });
    if (r.code !== 0) throw new Error(`on ${n.name}: exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(-400)}`);
  }

  /** Take the address down on the old master's host; true when it is no longer there. */
  private async downOverSsh(n: NodeConfig, d: Deadline, log: Logger): Promise<boolean> {
    const ip = q(`${this.addr.floating_ip}/32`);
    const dev = q(this.addr.interface);
    try {
      await this.onHost(n, `ip -4 addr del ${ip} dev ${dev} 2>/dev/null; ! ip -4 -o addr show dev ${dev} | grep -qF ${q(` ${this.addr.floating_ip}/`)}`, d);
      return true;
    } catch (err) {
      log.warn({ node: n.name }, `cannot take ${this.addr.floating_ip} down on ${n.name} over SSH: ${(err as Error).message}`);
      return false;
    }
  }

  /** Call a HaVip mutation until the describe says it is done (or the deadline ends). */
  private async mutateUntil(vpc: VpcApi, d: Deadline, signal: AbortSignal | undefined, done: (h: HaVipInfo) => boolean, act: (h: HaVipInfo) => Promise<unknown>, what: string): Promise<boolean> {
    let acted = false;
    let sinceAct = Infinity;
    for (let attempt = 0; ; ) {
      const h = await this.describe(vpc, d, signal);
      if (done(h)) return acted;
      if (d.expired()) throw new Error(`${what}: not done within cloud.operation_timeout_s (HaVip is ${h.status}, associated with ${h.associated.join(', ') || 'nothing'})`);
      const settling = h.status === 'Associating' || h.status === 'Unassociating';
      if (!settling && (!acted || Date.now() - sinceAct > 5000)) {
        try {
          await act(h);
          acted = true;
          sinceAct = Date.now();
        } catch (err) {
          if (!(err instanceof EcsApiError) || !(worthReconverging(err) || HAVIP_SETTLING.test(err.code))) throw err;
          await sleep(Math.min(backoffMs(attempt++, DEFAULT_BACKOFF), d.remaining()), signal);
          continue;
        }
      }
      await sleep(Math.min(this.pollMs, d.remaining()), signal);
    }
  }

  fence(ctx: MoveContext): Promise<MoveOutcome> {
    return this.converge(ctx, 'fence', async (d, journal) => {
      const old = ctx.oldMaster;
      if (!old) return { action: 'nothing-to-fence', detail: 'no old master given: the address is announced by the new master at attach' };
      const log = (ctx.log ?? this.log).child({ cluster: this.cluster.name, mover: 'havip' });
      if (ctx.oldMasterSshReachable !== false && (await this.downOverSsh(old, d, log))) {
        return { action: 'down-on-old', detail: `${this.addr.floating_ip} taken down on ${old.name} over SSH` };
      }
      // The old host does not answer: the VPC must stop delivering the address to it.
      const inst = this.instanceOf(old);
      const vpc = this.api(this.makeVpc, journal, d);
      const token = createHash('sha256').update(`${this.cluster.name}|unassociate|${this.addr.havip_id}|${inst}|${Date.now()}`).digest('hex').slice(0, 60);
      try {
        const acted = await this.mutateUntil(vpc, d, ctx.signal, (h) => !h.associated.includes(inst) && h.status !== 'Unassociating', () => vpc.unassociate(this.addr.havip_id, inst, token), `UnassociateHaVip for ${this.label(inst)}`);
        return { action: acted ? 'unassociated' : 'already-unassociated', detail: `${old.name} did not answer SSH; HaVip ${this.addr.havip_id} ${acted ? 'unassociated from' : 'was not associated with'} ${this.label(inst)}: the VPC no longer delivers ${this.addr.floating_ip} to it` };
      } catch (err) {
        if (!this.cluster.failover.stonith) throw err;
        const why = err instanceof EcsApiError ? apiText(err) : (err as Error).message;
        log.warn({ node: old.name }, `UnassociateHaVip failed (${why}); failover.stonith is on: force-stopping ${this.label(inst)}`);
        await this.forceStop(this.api(this.makeEcs, journal, d), inst, d, ctx.signal);
        return { action: 'force-stopped', detail: `${old.name} did not answer SSH and UnassociateHaVip failed (${why}); ${this.label(inst)} force-stopped (Stopped): it can no longer announce ${this.addr.floating_ip}` };
      }
    });
  }

  private async forceStop(ecs: EcsApi, inst: string, d: Deadline, signal?: AbortSignal): Promise<void> {
    let issued = false;
    for (let attempt = 0; ; ) {
      const { status } = await ecs.instanceStatus(inst);
      if (status === 'Stopped') return;
      if (d.expired()) throw new Error(`${this.label(inst)} not Stopped within cloud.operation_timeout_s (now ${status ?? 'unknown'})`);
      if (!issued) {
        try {
          await ecs.forceStop(inst);
          issued = true;
        } catch (err) {
          if (!(err instanceof EcsApiError) || !worthReconverging(err)) throw err;
          await sleep(Math.min(backoffMs(attempt++, DEFAULT_BACKOFF), d.remaining()), signal);
          continue;
        }
      }
      await sleep(Math.min(this.pollMs * 2, d.remaining()), signal);
    }
  }

  attach(ctx: MoveContext): Promise<MoveOutcome> {
    return this.converge(ctx, 'attach', async (d, journal) => {
      if (!ctx.newMaster) throw new Error('no new master given');
      const n = ctx.newMaster;
      const inst = this.instanceOf(n);
      const vpc = this.api(this.makeVpc, journal, d);
      const token = createHash('sha256').update(`${this.cluster.name}|associate|${this.addr.havip_id}|${inst}|${Date.now()}`).digest('hex').slice(0, 60);
      // The address goes up and is announced at once (an API round trip stays off the critical path).
      const ip = this.addr.floating_ip;
      const dev = q(this.addr.interface);
      const c = this.addr.announce_count;
      const bringUp = () =>
        this.onHost(
          n,
          `command -v arping >/dev/null || { echo 'arping not found (install iputils-arping)' >&2; exit 127; }; ` +
            `ip -4 addr replace ${q(`${ip}/32`)} dev ${dev} && ` +
            `{ (arping -q -U -c ${c} -I ${dev} ${q(ip)}; arping -q -A -c ${c} -I ${dev} ${q(ip)}) </dev/null >/dev/null 2>&1 & }`,
          d,
        ).catch((err: Error) => {
          throw new Error(`bringing ${ip} up on ${n.name} failed ${err.message}`);
        });
      // The association check runs alongside; a node that had to be associated announces
      // again once it is InUse. The check through MySQL starts with the address: its direct
      // read of the new master overlaps the SSH command, and a failed association ends it.
      const stopVerify = new AbortController();
      const onAbort = () => stopVerify.abort();
      ctx.signal?.addEventListener('abort', onAbort, { once: true });
      const association = this.mutateUntil(
        vpc,
        d,
        ctx.signal,
        (h) => h.associated.includes(inst) && h.status === 'InUse',
        async (h) => {
          if (h.associatedType === 'NetworkInterface') throw new Error(`HaVip ${this.addr.havip_id} is associated with ENIs (${h.associated.join(', ')}); heir associates it with the nodes' instances: unassociate the ENIs first`);
          if (h.associated.length >= HAVIP_MAX_ASSOCIATIONS) throw new Error(`HaVip ${this.addr.havip_id} is already associated with ${h.associated.length} instances (the most the VPC allows) and not with ${this.label(inst)}`);
          await vpc.associate(this.addr.havip_id, inst, token);
        },
        `AssociateHaVip for ${this.label(inst)}`,
      ).then(async (associated) => {
        if (associated) await bringUp();
        return associated;
      });
      association.catch(() => stopVerify.abort());
      const up = bringUp();
      up.catch(() => stopVerify.abort());
      const verified = this.addr.verify ? verifyAddress(this.cluster, n, ip, d, stopVerify.signal, up) : up.then(() => null);
      const [a, u, v] = await Promise.allSettled([association, up, verified]);
      ctx.signal?.removeEventListener('abort', onAbort);
      if (a.status === 'rejected') throw a.reason;
      if (u.status === 'rejected') throw u.reason;
      if (v.status === 'rejected') throw v.reason;
      const associated = a.value;
      const where = `${ip} up on ${n.name} and announced by ARP${associated ? `; HaVip ${this.addr.havip_id} associated with ${this.label(inst)}` : ''}`;
      if (v.value) {
        if (!v.value.ok) throw new Error(`${where}, but the address does not reach the new master: ${v.value.detail}`);
        return { action: associated ? 'associated+announced' : 'announced', detail: `${where}; verified: ${v.value.detail}` };
      }
      return { action: associated ? 'associated+announced' : 'announced', detail: where };
    });
  }

  async status(ctx: Omit<MoveContext, 'newMaster'>): Promise<AddressStatus> {
    const journal: ApiCallRecord[] = [];
    const base = { kind: this.kind, address: this.addr.floating_ip, apiCalls: journal };
    try {
      const d = new Deadline(this.cloud.operation_timeout_s * 1000);
      const h = await this.describe(this.api(this.makeVpc, journal, d), d, ctx.signal);
      const s: AddressStatus = {
        ...base,
        state: h.status,
        settled: h.status === 'InUse' && !!h.masterInstanceId,
        detail: `HaVip ${h.id} (${h.ipAddress}) is ${h.status}, associated with ${h.associated.map((i) => this.label(i)).join(', ') || 'nothing'}; announced by ${h.masterInstanceId ? this.label(h.masterInstanceId) : 'no instance'}`,
      };
      if (h.masterInstanceId) {
        s.instanceId = h.masterInstanceId;
        const holder = this.cluster.nodes.find((x) => x.instance_id === h.masterInstanceId);
        if (holder) s.holder = holder.name;
      }
      return s;
    } catch (err) {
      return { ...base, state: 'unknown', settled: false, detail: err instanceof EcsApiError ? apiText(err) : (err as Error).message };
    }
  }

  async preflight(cluster: ClusterConfig = this.cluster): Promise<PreflightResult[]> {
    const out: PreflightResult[] = [];
    const instances = new Map<string, string>();
    for (const n of cluster.nodes) {
      if (n.instance_id) instances.set(n.name, n.instance_id);
      else out.push({ check: `instance:${n.name}`, ok: false, severity: 'error', detail: `node ${n.name} has no instance_id: the HaVip is associated with instances` });
    }
    const journal: ApiCallRecord[] = [];
    const d = new Deadline(this.cloud.operation_timeout_s * 1000);
    const apiFail = (check: string, err: unknown) =>
      out.push({ check, ok: false, severity: 'error', detail: err instanceof EcsApiError ? apiText(err) + permissionHint(err) : (err as Error).message });
    let h: HaVipInfo | undefined;
    try {
      h = await this.describe(this.api(this.makeVpc, journal, d), d);
      out.push({ check: 'havip-exists', ok: true, severity: 'error', detail: `HaVip ${h.id} (${h.ipAddress}) is ${h.status} in vSwitch ${h.vSwitchId}` });
    } catch (err) {
      apiFail('havip-exists', err);
    }
    if (h) {
      out.push({ check: 'havip-address', ok: h.ipAddress === this.addr.floating_ip, severity: 'error', detail: h.ipAddress === this.addr.floating_ip ? `the HaVip's address is floating_ip ${this.addr.floating_ip}` : `HaVip ${h.id} has address ${h.ipAddress}, but address.floating_ip is ${this.addr.floating_ip}` });
      const usable = ['Available', 'InUse', 'Associating', 'Unassociating'].includes(h.status);
      out.push({ check: 'havip-status', ok: usable, severity: 'error', detail: usable ? `HaVip ${h.id} is ${h.status}` : `HaVip ${h.id} is ${h.status}: it cannot be associated or announced` });
      if (h.associatedType === 'NetworkInterface') {
        out.push({ check: 'havip-associated-type', ok: false, severity: 'error', detail: `HaVip ${h.id} is associated with ENIs (${h.associated.join(', ')}); heir associates it with the nodes' instances (a HaVip takes instances or ENIs, not both)` });
      }
      try {
        const { instances: found } = await this.api(this.makeEcs, journal, d).describeInstances([...instances.values()]);
        for (const [name, id] of instances) {
          const i = found.find((x) => x.id === id);
          const ok = !!i && i.vSwitchId === h.vSwitchId;
          out.push({
            check: `same-vswitch:${name}`,
            ok,
            severity: 'error',
            detail: !i ? `instance ${id} of ${name} does not exist in ${this.cloud.region_id}` : ok ? `${name} (${id}) is in the HaVip's vSwitch ${h.vSwitchId}` : `${name} (${id}) is in vSwitch ${i.vSwitchId}, the HaVip in ${h.vSwitchId}: a HaVip serves one vSwitch only`,
          });
        }
      } catch (err) {
        apiFail('instances', err);
      }
      const missing = [...instances].filter(([, id]) => !h!.associated.includes(id));
      const total = new Set([...h.associated, ...instances.values()]).size;
      if (total > HAVIP_MAX_ASSOCIATIONS) {
        out.push({ check: 'havip-associations', ok: false, severity: 'error', detail: `the HaVip would need ${total} associated instances; the VPC allows ${HAVIP_MAX_ASSOCIATIONS}` });
      } else if (missing.length) {
        out.push({ check: 'havip-associations', ok: false, severity: 'warning', detail: `HaVip ${h.id} is not associated with ${missing.map(([n, id]) => `${n} (${id})`).join(', ')}: heir associates it when such a node becomes master (AssociateHaVip, which adds seconds to that move); associate it now to save them` });
      } else {
        out.push({ check: 'havip-associations', ok: true, severity: 'error', detail: `HaVip ${h.id} is associated with every node's instance` });
      }
    }
    // Every host must be able to bring the address up and announce it.
    await Promise.all(
      cluster.nodes.map(async (n) => {
        try {
          await this.onHost(n, `command -v arping >/dev/null || { echo 'arping not found (install iputils-arping)' >&2; exit 127; }; ip -4 -o addr show dev ${q(this.addr.interface)} >/dev/null`, d);
          out.push({ check: `announce:${n.name}`, ok: true, severity: 'error', detail: `${n.name} has arping and interface ${this.addr.interface}` });
        } catch (err) {
          out.push({ check: `announce:${n.name}`, ok: false, severity: 'error', detail: `${n.name} cannot announce the address: ${(err as Error).message}` });
        }
      }),
    );
    return out;
  }
}

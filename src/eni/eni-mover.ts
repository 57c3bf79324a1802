/**
 * The ENI mover: the application's address is a private IP on a secondary ENI;
 * it moves when the ENI is detached from the old master's instance and attached
 * to the new master's.
 *
 * fence:  DescribeNetworkInterfaces → DetachNetworkInterface if it sits on the old
 *         instance → poll until Available. Stuck in Detaching (hung guest OS):
 *         re-detach; still stuck and failover.stonith on → StopInstance
 *         ForceStop=true, wait for Stopped, the detach completes.
 * attach: AttachNetworkInterface → poll until InUse on the new instance →
 *         post_attach_command on the new host over SSH → verify through MySQL
 *         that floating_ip reaches the new master.
 * Each step converges from what the API reports (plans in eni-plan.ts); calls
 * are retried only when safe (retry.ts), within cloud.operation_timeout_s.
 */
import type { ClusterConfig, CloudSettings, NodeConfig } from '../config/schema';
import { sshExec, sshTarget } from '../ssh';
import { silentLogger, type Logger } from '../util/log';
import { EcsApi, EcsApiError, isPermissionDenied, ramAction, type EniInfo } from './ecs-api';
import { planAttach, planFence, type Step } from './eni-plan';
import { Deadline, DEFAULT_BACKOFF, isTransient, pollDelayMs, retryDelayMs, sleep, worthReconverging, type BackoffPolicy, type CallKind } from './retry';
import type { AddressMover, AddressStatus, ApiCallRecord, MoveContext, MoveOutcome, PreflightResult } from './types';
import { verifyAddress } from './verify';

type EniAddress = Extract<ClusterConfig['address'], { type: 'eni' }>;

export interface MoverTuning {
  /** Poll interval while a transition settles, in its first seconds (see pollDelayMs). */
  pollMs: number;
  /** Re-issue a detach that has not completed after this long. */
  redetachAfterMs: number;
  /** Detaching this long counts as stuck (then force-stop when stonith is on). */
  stuckAfterMs: number;
  backoff: BackoffPolicy;
}

export function defaultTuning(cloud: Pick<CloudSettings, 'operation_timeout_s'>): MoverTuning {
  const stuckAfterMs = Math.min(20000, Math.max(3000, cloud.operation_timeout_s * 1000 * 0.25));
  return { pollMs: 150, redetachAfterMs: Math.round(stuckAfterMs / 2), stuckAfterMs, backoff: DEFAULT_BACKOFF };
}

/**
 * When this process last sent a mutation (detach, attach, force-stop) for each ENI. A Describe
 * issued less than cloud.describe_lag_ms later may still show the state from before it, so
 * the loops below neither conclude nor act on such an answer (process-wide: a move right
 * after another move of the same ENI is covered too).
 */
const lastMutationAt = new Map<string, number>();

function noteMutation(eniId: string): void {
  lastMutationAt.set(eniId, Date.now());
}

/** ms until a Describe started now reflects this process's last mutation of the ENI (0: already). */
function lagLeftMs(eniId: string, lagMs: number): number {
  const at = lastMutationAt.get(eniId);
  return at === undefined || lagMs <= 0 ? 0 : Math.max(0, at + lagMs - Date.now());
}

/** A failure that ends an operation; its text names ENI, instances, code and RequestId. */
class OpFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function apiText(e: EcsApiError): string {
  const rid = e.requestId ? `, RequestId ${e.requestId}` : '';
  const http = e.statusCode ? `HTTP ${e.statusCode} ` : '';
  return `${e.action} failed: ${http}${e.code}${rid}: ${e.message}`;
}

/** Every RAM action the ENI mover calls (ecs:StopInstance too when failover.stonith is on). */
export const ENI_ACTIONS = ['ecs:DescribeNetworkInterfaces', 'ecs:DescribeInstances', 'ecs:DescribeInstanceStatus', 'ecs:AttachNetworkInterface', 'ecs:DetachNetworkInterface'];

function hint(e: EcsApiError): string {
  if (e.kind === 'credentials') return '';
  if (/^InvalidAccessKeyId|^SignatureDoesNotMatch|^IncompleteSignature|^InvalidSecurityToken/.test(e.code))
    return ' — the credentials from the default chain are rejected; check the RAM role / ALIBABA_CLOUD_* environment of the heir service';
  if (isPermissionDenied(e)) return ` — the RAM policy of heir's credentials does not grant ${ramAction(e.action)}; the ENI mover needs ${ENI_ACTIONS.join(', ')} (and ecs:StopInstance with failover.stonith), see docs/RAM-POLICY.md`;
  if (e.kind === 'timeout' || e.kind === 'network') return ` — check that the ECS endpoint (heir.cloud.endpoint) is reachable from the manager (and heir.cloud.ca_file when it uses a private CA)`;
  return '';
}

interface RetryCtx {
  deadline: Deadline;
  log: Logger;
  signal?: AbortSignal;
}

/** One fence/attach run: its deadline, journal of API calls and logger. */
class Operation {
  readonly journal: ApiCallRecord[] = [];
  readonly deadline: Deadline;
  readonly api: EcsApi;
  constructor(
    makeApi: (journal: ApiCallRecord[]) => EcsApi,
    totalMs: number,
    readonly log: Logger,
    readonly signal?: AbortSignal,
  ) {
    this.deadline = new Deadline(totalMs);
    this.api = makeApi(this.journal);
    this.api.budget = () => this.deadline.remaining();
  }
  lastRequestId(): string | undefined {
    for (let i = this.journal.length - 1; i >= 0; i--) if (this.journal[i]!.requestId) return this.journal[i]!.requestId;
    return undefined;
  }
}

export class EniMover implements AddressMover {
  readonly kind = 'eni' as const;
  private readonly addr: EniAddress;

  /** With a lagging Describe the attach starts while the fence settles (see attachWhileFencing). */
  get attachesWhileFencing(): boolean {
    return this.cloud.describe_lag_ms > 0;
  }

  constructor(
    private readonly cluster: ClusterConfig,
    private readonly cloud: CloudSettings,
    private readonly log: Logger = silentLogger,
    private readonly tuning: MoverTuning = defaultTuning(cloud),
    private readonly makeApi: (journal: ApiCallRecord[]) => EcsApi = (j) => new EcsApi(cloud, j),
  ) {
    if (cluster.address.type !== 'eni') throw new Error(`cluster ${cluster.name}: address.type is ${cluster.address.type}, not eni`);
    this.addr = cluster.address;
  }

  private instanceOf(node: NodeConfig, role: string): string {
    if (!node.instance_id) throw new OpFailure('NoInstanceId', `node ${node.name} (${role}) has no instance_id; the ENI mover needs the ECS instance of every node (nodes[].instance_id)`);
    return node.instance_id;
  }

  private nodeOfInstance(instanceId: string | undefined): NodeConfig | undefined {
    return instanceId ? this.cluster.nodes.find((n) => n.instance_id === instanceId) : undefined;
  }

  private label(instanceId: string | undefined): string {
    if (!instanceId) return 'no instance';
    const n = this.nodeOfInstance(instanceId);
    return n ? `${instanceId} (${n.name})` : instanceId;
  }

  /** A call retried while the failure is transient for its kind and time remains. */
  private async retrying<T>(op: RetryCtx, kind: CallKind, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof EcsApiError)) throw err;
        const wait = retryDelayMs(attempt, err, this.tuning.backoff);
        if (!isTransient(err, kind) || op.deadline.remaining() <= wait) throw err;
        op.log.warn({ action: err.action, code: err.code, requestId: err.requestId, attempt: attempt + 1 }, `${err.action}: ${err.code}, retrying in ${wait} ms`);
        await sleep(wait, op.signal);
      }
    }
  }

  /**
   * The ENI as the API reports it, from a Describe sent no sooner than cloud.describe_lag_ms
   * after this process's last mutation of it: an earlier answer may show the state from
   * before that mutation, and any conclusion drawn from it (moved, already there, failed)
   * or repeat of the mutation would be wrong.
   */
  private async describe(op: Operation): Promise<EniInfo | undefined> {
    const wait = lagLeftMs(this.addr.eni_id, this.cloud.describe_lag_ms);
    if (wait > 0) await sleep(Math.min(wait, op.deadline.remaining()), op.signal);
    return (await this.retrying(op, 'describe', () => op.api.describeEni(this.addr.eni_id))).eni;
  }

  private outcome(op: Operation, ok: boolean, action: string, detail: string, code?: string): MoveOutcome {
    const o: MoveOutcome = { ok, action, detail, durationMs: op.deadline.elapsed(), apiCalls: op.journal };
    if (code) o.code = code;
    (ok ? op.log.info.bind(op.log) : op.log.error.bind(op.log))({ eni: this.addr.eni_id, action, code, durationMs: o.durationMs, apiCalls: op.journal.length }, detail);
    return o;
  }

  private async run(ctx: MoveContext, what: 'fence' | 'attach', body: (op: Operation) => Promise<MoveOutcome>): Promise<MoveOutcome> {
    const log = (ctx.log ?? this.log).child({ cluster: this.cluster.name, mover: 'eni', step: what });
    let op: Operation;
    try {
      op = new Operation(this.makeApi, this.cloud.operation_timeout_s * 1000, log, ctx.signal);
    } catch (err) {
      return { ok: false, action: 'failed', detail: `${what} of ENI ${this.addr.eni_id}: ${(err as Error).message}`, durationMs: 0, apiCalls: [], code: (err as EcsApiError).code ?? 'Setup' };
    }
    try {
      return await body(op);
    } catch (err) {
      if (err instanceof OpFailure) return this.outcome(op, false, 'failed', err.message, err.code);
      if (err instanceof EcsApiError) return this.outcome(op, false, 'failed', `${what} of ENI ${this.addr.eni_id}: ${apiText(err)}${hint(err)}`, err.code);
      if ((err as Error).message === 'aborted') return this.outcome(op, false, 'aborted', `${what} of ENI ${this.addr.eni_id} aborted after ${op.deadline.elapsed()} ms`, 'Aborted');
      return this.outcome(op, false, 'failed', `${what} of ENI ${this.addr.eni_id}: ${(err as Error).message}`, 'Error');
    }
  }

  // ---- fence ----------------------------------------------------------------------

  fence(ctx: MoveContext): Promise<MoveOutcome> {
    return this.run(ctx, 'fence', async (op) => {
      const from = ctx.oldMaster ? this.instanceOf(ctx.oldMaster, 'old master') : undefined;
      const keep = ctx.newMaster ? this.instanceOf(ctx.newMaster, 'new master') : undefined;
      const r = await this.fenceLoop(op, from, keep, this.cluster.failover.stonith);
      return this.outcome(op, true, r.action, r.detail);
    });
  }

  /** Converge the ENI away from `from` (or from anything but `keep`). Throws OpFailure when it cannot. */
  private async fenceLoop(op: Operation, from: string | undefined, keep: string | undefined, stonith: boolean): Promise<{ action: string; detail: string }> {
    const eniId = this.addr.eni_id;
    let detachingSince: number | undefined;
    let lastDetachAt = -Infinity;
    let forceStopIssued = false;
    let forceStopped: string | undefined;
    let instanceStatus: string | undefined;
    let acted = false;
    let lastWhy = '';
    let attempt = 0;
    const loopStart = Date.now();
    for (;;) {
      if (op.deadline.expired()) {
        throw new OpFailure('Timeout', `fence of ENI ${eniId}: not detached from ${this.label(from)} within cloud.operation_timeout_s=${this.cloud.operation_timeout_s} s; last seen: ${lastWhy || 'nothing'} (last RequestId ${op.lastRequestId() ?? 'none'})`);
      }
      const eni = await this.describe(op);
      const now = Date.now();
      const onFenced = eni?.instanceId !== undefined && (from !== undefined ? eni.instanceId === from : eni.instanceId !== keep);
      if (eni?.status === 'Detaching' && onFenced) detachingSince ??= now;
      else if (!acted) detachingSince = undefined;
      if (forceStopIssued && eni?.instanceId) {
        instanceStatus = (await this.retrying(op, 'describe', () => op.api.instanceStatus(eni.instanceId!))).status;
      }
      const step: Step = planFence({
        eniId,
        eni,
        from,
        keep,
        stonith,
        detachingForMs: detachingSince === undefined ? 0 : now - detachingSince,
        // What a Describe shows is up to describe_lag_ms old: the detach has been visible for that much less.
        sinceLastDetachMs: now - lastDetachAt - this.cloud.describe_lag_ms,
        redetachAfterMs: this.tuning.redetachAfterMs,
        stuckAfterMs: this.tuning.stuckAfterMs,
        forceStopIssued,
        instanceStatus,
        label: (id) => this.label(id),
      });
      switch (step.kind) {
        case 'done': {
          const rid = op.lastRequestId();
          if (!acted) return { action: step.action === 'detached' ? 'already-detached' : step.action, detail: `${step.why}; nothing to do (RequestId ${rid ?? 'none'})` };
          const how = forceStopped ? `force-stopped ${this.label(forceStopped)}, then detached` : 'detached';
          return { action: forceStopped ? 'force-stopped+detached' : 'detached', detail: `ENI ${eniId} ${how} from ${this.label(from ?? eni?.instanceId)}: ${step.why} (${op.deadline.elapsed()} ms, last RequestId ${rid ?? 'none'})` };
        }
        case 'fail':
          throw new OpFailure(step.code, `fence of ENI ${eniId}: ${step.why} (last RequestId ${op.lastRequestId() ?? 'none'})`);
        case 'wait':
          lastWhy = step.why;
          await sleep(Math.min(pollDelayMs(Date.now() - Math.max(lastDetachAt, loopStart), this.tuning.pollMs), op.deadline.remaining()), op.signal);
          break;
        case 'detach':
          lastWhy = `DetachNetworkInterface ${eniId} from ${this.label(step.from)}${step.again ? ' (again)' : ''}`;
          op.log.info({ eni: eniId, instance: step.from, again: step.again }, lastWhy);
          try {
            await op.api.detach(eniId, step.from);
            noteMutation(eniId);
            acted = true;
            detachingSince ??= Date.now();
            lastDetachAt = Date.now();
            attempt = 0;
          } catch (err) {
            if (!(err instanceof EcsApiError) || !worthReconverging(err)) throw err;
            lastWhy = `${apiText(err)}`;
            await sleep(Math.min(retryDelayMs(attempt++, err, this.tuning.backoff), op.deadline.remaining()), op.signal);
          }
          break;
        case 'force-stop':
          lastWhy = `StopInstance ForceStop=true on ${this.label(step.instanceId)}`;
          op.log.warn({ eni: eniId, instance: step.instanceId }, `ENI ${eniId} stuck Detaching from ${this.label(step.instanceId)}; failover.stonith is on: force-stopping the instance`);
          try {
            await op.api.forceStop(step.instanceId);
            noteMutation(eniId);
            forceStopIssued = true;
            forceStopped = step.instanceId;
            acted = true;
          } catch (err) {
            if (!(err instanceof EcsApiError)) throw err;
            if (err.code === 'IncorrectInstanceStatus') {
              // Already stopping or stopped: the state we wanted.
              forceStopIssued = true;
              forceStopped = step.instanceId;
              acted = true;
            } else if (worthReconverging(err)) {
              await sleep(Math.min(retryDelayMs(attempt++, err, this.tuning.backoff), op.deadline.remaining()), op.signal);
            } else throw err;
          }
          break;
        default:
          throw new OpFailure('Plan', `fence of ENI ${eniId}: unexpected step ${step.kind}`);
      }
    }
  }

  // ---- attach ---------------------------------------------------------------------

  attach(ctx: MoveContext): Promise<MoveOutcome> {
    return this.run(ctx, 'attach', async (op) => {
      if (!ctx.newMaster) throw new OpFailure('NoNewMaster', `attach of ENI ${this.addr.eni_id}: no new master given`);
      const newMaster = ctx.newMaster;
      const to = this.instanceOf(newMaster, 'new master');
      const oldInstance = ctx.oldMaster?.instance_id;
      const eniId = this.addr.eni_id;
      let acted = false;
      let attempt = 0;
      let lastWhy = '';
      let fencedFrom: string | undefined;
      let attachAt = Date.now();
      if (ctx.fencing && this.attachesWhileFencing && (await this.attachWhileFencing(op, to, ctx, ctx.fencing))) {
        acted = true;
        attachAt = Date.now();
      }
      attachLoop: for (;;) {
        if (op.deadline.expired()) {
          throw new OpFailure('Timeout', `attach of ENI ${eniId} to ${this.label(to)}: not InUse within cloud.operation_timeout_s=${this.cloud.operation_timeout_s} s; last seen: ${lastWhy || 'nothing'} (last RequestId ${op.lastRequestId() ?? 'none'})`);
        }
        const eni = await this.describe(op);
        const step = planAttach(eniId, eni, to);
        switch (step.kind) {
          case 'done':
            break attachLoop;
          case 'fail':
            throw new OpFailure(step.code, `attach of ENI ${eniId} to ${this.label(to)}: ${step.why} (last RequestId ${op.lastRequestId() ?? 'none'})`);
          case 'wait':
            lastWhy = step.why;
            await sleep(Math.min(pollDelayMs(Date.now() - attachAt, this.tuning.pollMs), op.deadline.remaining()), op.signal);
            break;
          case 'fence-other': {
            // The ENI still sits elsewhere: converge it away first. Force-stop only the old master's instance.
            const stonith = this.cluster.failover.stonith && step.from === oldInstance;
            op.log.info({ eni: eniId, from: step.from }, `ENI ${eniId} is on ${this.label(step.from)}; detaching it before attaching to ${this.label(to)}`);
            await this.fenceLoop(op, step.from, to, stonith);
            fencedFrom = step.from;
            break;
          }
          case 'attach':
            lastWhy = `AttachNetworkInterface ${eniId} to ${this.label(to)}`;
            op.log.info({ eni: eniId, instance: to }, lastWhy);
            await ctx.at?.('detached');
            try {
              await op.api.attach(eniId, to);
              noteMutation(eniId);
              acted = true;
              attachAt = Date.now();
              attempt = 0;
              await ctx.at?.('requested');
            } catch (err) {
              if (!(err instanceof EcsApiError) || !worthReconverging(err)) throw err;
              lastWhy = apiText(err);
              await sleep(Math.min(retryDelayMs(attempt++, err, this.tuning.backoff), op.deadline.remaining()), op.signal);
            }
            break;
          default:
            throw new OpFailure('Plan', `attach of ENI ${eniId}: unexpected step ${step.kind}`);
        }
      }
      const attachedRid = op.lastRequestId();
      const where = `ENI ${eniId} (${this.addr.floating_ip}) ${acted ? 'attached to' : 'already InUse on'} ${this.label(to)}${fencedFrom ? ` after detaching it from ${this.label(fencedFrom)}` : ''} (RequestId ${attachedRid ?? 'none'})`;

      // The guest may need to bring the NIC up or add routes; images differ.
      if (this.addr.post_attach_command) {
        const t = sshTarget(this.cluster, newMaster);
        const timeoutMs = Math.max(1000, Math.min(t.commandTimeoutMs, op.deadline.remaining()));
        let r: { code: number; stdout: string; stderr: string };
        try {
          r = await sshExec(t, this.addr.post_attach_command, { timeoutMs });
        } catch (err) {
          throw new OpFailure('PostAttachCommandFailed', `${where}, but post_attach_command could not run on ${newMaster.name}: ${(err as Error).message}`);
        }
        if (r.code !== 0) {
          throw new OpFailure('PostAttachCommandFailed', `${where}, but post_attach_command exited ${r.code} on ${newMaster.name}: ${(r.stderr || r.stdout).trim().slice(-400)}`);
        }
      }
      if (this.addr.verify) {
        const v = await verifyAddress(this.cluster, newMaster, this.addr.floating_ip, op.deadline, op.signal);
        if (!v.ok) throw new OpFailure('VerifyFailed', `${where}, but the address does not reach the new master: ${v.detail}`);
        return this.outcome(op, true, acted ? 'attached' : 'already-attached', `${where}; verified: ${v.detail}`);
      }
      return this.outcome(op, true, acted ? 'attached' : 'already-attached', where);
    });
  }

  /**
   * While the caller's fence settles and a Describe cannot show it yet (cloud.describe_lag_ms),
   * the attach request itself asks whether the ENI has left the old master: the ECS API refuses
   * AttachNetworkInterface with InvalidOperation.InvalidEniState while the ENI is InUse or
   * Detaching and accepts it once it is Available (ECS API AttachNetworkInterface: the ENI must be
   * Available; error codes). One request every pollMs, until one is accepted (true) or the fence
   * ends first (false: the attach loop goes on from a Describe). It saves up to describe_lag_ms
   * between the ENI becoming Available and the attach request.
   */
  private async attachWhileFencing(op: Operation, to: string, ctx: MoveContext, fencing: Promise<unknown>): Promise<boolean> {
    const eniId = this.addr.eni_id;
    let fenceEnded = false;
    const ended = fencing.then(
      () => void (fenceEnded = true),
      () => void (fenceEnded = true),
    );
    let refused = 0;
    let attempt = 0;
    await ctx.at?.('detached');
    while (!fenceEnded && !op.deadline.expired()) {
      try {
        await op.api.attach(eniId, to);
        noteMutation(eniId);
        op.log.info({ eni: eniId, instance: to, refused }, `AttachNetworkInterface ${eniId} to ${this.label(to)} accepted while the fence's Describe still lags (${refused} earlier request(s) refused: InvalidOperation.InvalidEniState, the ENI not yet Available)`);
        await ctx.at?.('requested');
        return true;
      } catch (err) {
        if (!(err instanceof EcsApiError)) throw err;
        let wait = this.tuning.pollMs;
        if (err.code === 'InvalidOperation.InvalidEniState') refused++;
        else if (worthReconverging(err)) wait = retryDelayMs(attempt++, err, this.tuning.backoff);
        else throw err;
        await Promise.race([sleep(Math.min(wait, op.deadline.remaining()), op.signal), ended]);
      }
    }
    return false;
  }

  // ---- status, preflight ----------------------------------------------------------

  async status(ctx: Omit<MoveContext, 'newMaster'>): Promise<AddressStatus> {
    const journal: ApiCallRecord[] = [];
    const base = { kind: this.kind, address: this.addr.floating_ip, eniId: this.addr.eni_id, apiCalls: journal };
    let api: EcsApi;
    try {
      api = this.makeApi(journal);
    } catch (err) {
      return { ...base, state: 'unknown', settled: false, detail: (err as Error).message };
    }
    const op: RetryCtx = { deadline: new Deadline(this.cloud.operation_timeout_s * 1000), log: ctx.log ?? this.log, signal: ctx.signal };
    try {
      const wait = lagLeftMs(this.addr.eni_id, this.cloud.describe_lag_ms);
      if (wait > 0) await sleep(wait, ctx.signal);
      const eni = (await this.retrying(op, 'describe', () => api.describeEni(this.addr.eni_id))).eni;
      if (!eni) return { ...base, state: 'NotFound', settled: false, detail: `ENI ${this.addr.eni_id} does not exist in ${this.cloud.region_id}` };
      const holder = this.nodeOfInstance(eni.instanceId);
      const s: AddressStatus = {
        ...base,
        state: eni.status,
        settled: eni.status === 'InUse' || eni.status === 'Available',
        detail: `ENI ${eni.id} (${this.addr.floating_ip}) is ${eni.status}${eni.instanceId ? ` on ${this.label(eni.instanceId)}` : ''}`,
      };
      if (eni.instanceId) s.instanceId = eni.instanceId;
      if (holder) s.holder = holder.name;
      return s;
    } catch (err) {
      const e = err as EcsApiError;
      return { ...base, state: 'unknown', settled: false, detail: e instanceof EcsApiError ? `${apiText(e)}${hint(e)}` : String(err) };
    }
  }

  /**
   * Whether heir's credentials may make every call a failover makes, before one needs them:
   * DescribeInstanceStatus is read; StopInstance (stonith) is sent with DryRun=true
   * (DryRunOperation: it would be accepted). Attach/DetachNetworkInterface have no DryRun
   * parameter in the ECS API, so they cannot be tried without moving the ENI: a warning
   * names them.
   */
  private async permissionChecks(api: EcsApi, op: RetryCtx, cluster: ClusterConfig, add: (check: string, ok: boolean, detail: string, severity?: 'error' | 'warning') => void): Promise<void> {
    const denied = (e: unknown) => (e instanceof EcsApiError ? `${apiText(e)}${hint(e)}` : String(e));
    const ids = cluster.nodes.map((n) => n.instance_id).filter((x): x is string => !!x);
    if (ids[0]) {
      try {
        const r = await this.retrying(op, 'describe', () => api.instanceStatus(ids[0]!));
        add('permission:ecs:DescribeInstanceStatus', true, `DescribeInstanceStatus allowed (RequestId ${r.requestId ?? 'none'})`);
      } catch (err) {
        add('permission:ecs:DescribeInstanceStatus', false, denied(err));
      }
    }
    if (cluster.failover.stonith) {
      for (const n of cluster.nodes) {
        if (!n.instance_id) continue;
        try {
          const r = await this.retrying(op, 'describe', () => api.forceStopDryRun(n.instance_id!));
          add(`permission:ecs:StopInstance:${n.name}`, true, `StopInstance ForceStop on ${this.label(n.instance_id)} would be accepted (DryRun: DryRunOperation, RequestId ${r.requestId ?? 'none'})`);
        } catch (err) {
          const e = err as EcsApiError;
          const notNow = e instanceof EcsApiError && e.code === 'IncorrectInstanceStatus';
          add(`permission:ecs:StopInstance:${n.name}`, notNow, notNow ? `StopInstance DryRun on ${this.label(n.instance_id)}: ${e.code} (the instance is not Running now; the permission was not refused)` : `StopInstance DryRun on ${this.label(n.instance_id)}: ${denied(err)}`, notNow ? 'warning' : 'error');
        }
      }
    }
    add('permission:attach-detach', true, 'ecs:AttachNetworkInterface and ecs:DetachNetworkInterface cannot be tried here (the ECS API has no DryRun for them); check that the RAM policy grants them (docs/RAM-POLICY.md)', 'warning');
  }

  async preflight(cluster: ClusterConfig = this.cluster): Promise<PreflightResult[]> {
    const out: PreflightResult[] = [];
    const add = (check: string, ok: boolean, detail: string, severity: 'error' | 'warning' = 'error') => out.push({ check, ok, severity, detail });
    const journal: ApiCallRecord[] = [];
    let api: EcsApi;
    try {
      api = this.makeApi(journal);
    } catch (err) {
      add('cloud-config', false, (err as Error).message);
      return out;
    }
    const eniId = this.addr.eni_id;
    const missing = cluster.nodes.filter((n) => !n.instance_id);
    if (missing.length) add('instance-ids', false, `nodes without instance_id: ${missing.map((n) => n.name).join(', ')}; the ENI mover needs each node's ECS instance`);
    else add('instance-ids', true, 'every node names its ECS instance');
    const op: RetryCtx = { deadline: new Deadline(this.cloud.operation_timeout_s * 1000), log: this.log };
    let eni: EniInfo | undefined;
    try {
      const r = await this.retrying(op, 'describe', () => api.describeEni(eniId));
      add('credentials', true, `the credential chain works (DescribeNetworkInterfaces RequestId ${r.requestId ?? 'none'})`);
      eni = r.eni;
    } catch (err) {
      const e = err as EcsApiError;
      add('credentials', false, e instanceof EcsApiError ? `${apiText(e)}${hint(e)}` : String(err));
      return out;
    }
    if (!eni) {
      add('eni-exists', false, `ENI ${eniId} does not exist in region ${this.cloud.region_id} (InvalidEniId.NotFound); check address.eni_id`);
      return out;
    }
    add('eni-exists', true, `ENI ${eniId} exists: ${eni.status}${eni.instanceId ? ` on ${this.label(eni.instanceId)}` : ''}, ${eni.zoneId}, ${eni.vpcId}, primary IP ${eni.privateIp}`);
    add('eni-secondary', eni.type === 'Secondary', eni.type === 'Secondary' ? `ENI ${eniId} is a secondary ENI` : `ENI ${eniId} is a ${eni.type} ENI; only a secondary ENI can move between instances`);
    if (eni.privateIp !== this.addr.floating_ip && !eni.secondaryIps.includes(this.addr.floating_ip)) {
      add('floating-ip', false, `address.floating_ip ${this.addr.floating_ip} is not an address of ENI ${eniId} (it has ${[eni.privateIp, ...eni.secondaryIps].join(', ')})`, 'warning');
    } else add('floating-ip', true, `${this.addr.floating_ip} is on ENI ${eniId}`);
    const ids = cluster.nodes.map((n) => n.instance_id).filter((x): x is string => !!x);
    if (ids.length) {
      try {
        const { instances, requestId } = await this.retrying(op, 'describe', () => api.describeInstances(ids));
        for (const n of cluster.nodes) {
          if (!n.instance_id) continue;
          const inst = instances.find((i) => i.id === n.instance_id);
          if (!inst) {
            add(`instance:${n.name}`, false, `instance ${n.instance_id} of node ${n.name} does not exist in ${this.cloud.region_id} (DescribeInstances RequestId ${requestId ?? 'none'})`);
            continue;
          }
          add(`instance:${n.name}`, true, `instance ${inst.id} of ${n.name} is ${inst.status} in ${inst.zoneId}`);
          add(`zone:${n.name}`, inst.zoneId === eni.zoneId, inst.zoneId === eni.zoneId ? `${n.name} and ENI ${eniId} are both in ${eni.zoneId}` : `${n.name}'s instance ${inst.id} is in zone ${inst.zoneId}, ENI ${eniId} in ${eni.zoneId}: the ENI cannot attach there`);
          add(`vpc:${n.name}`, inst.vpcId === eni.vpcId, inst.vpcId === eni.vpcId ? `${n.name} and ENI ${eniId} are both in ${eni.vpcId}` : `${n.name}'s instance ${inst.id} is in VPC ${inst.vpcId}, ENI ${eniId} in ${eni.vpcId}: the ENI cannot attach there`);
        }
      } catch (err) {
        const e = err as EcsApiError;
        add('instances', false, e instanceof EcsApiError ? `${apiText(e)}${hint(e)}` : String(err));
      }
    }
    await this.permissionChecks(api, op, cluster, add);
    if (cluster.failover.stonith) add('stonith', true, 'failover.stonith is on: a hung old master is force-stopped (StopInstance ForceStop) when its ENI is stuck Detaching', 'warning');
    else add('stonith', true, 'failover.stonith is off: an ENI stuck Detaching (hung old master) is reported, not resolved', 'warning');
    return out;
  }
}

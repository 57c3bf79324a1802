/**
 * The VPC API's HaVip actions (API version 2016-04-28), served by the ECS emulator on the
 * same endpoint with the same signing: DescribeHaVips, AssociateHaVip, UnassociateHaVip.
 *
 * Modelled from the VPC API reference pages of those actions and the HaVip overview:
 * - a HaVip lives in one vSwitch; it is associated with ECS instances (EcsInstance) or with
 *   ENIs (NetworkInterface), never both, at most 10 of them;
 * - HaVip status: Creating, Available (associated with nothing), InUse; Associating and
 *   Unassociating while a change runs in the background (both calls are asynchronous:
 *   DescribeHaVips shows the result later);
 * - the instance must be Running or Stopped, the HaVip Available or InUse;
 * - the VPC delivers the address to the associated instance that announced it last by
 *   gratuitous ARP: MasterInstanceId. Unassociating the master needs Force=true.
 *
 * Who announced last is not an API fact: in the namespace lab the test reads it from the
 * manager's ARP cache (hooks.masterOf), elsewhere `announce()` sets it.
 */
import type { EcsState } from './state';

export const VPC_API_VERSION = '2016-04-28';
export const HAVIP_ACTIONS = new Set(['DescribeHaVips', 'AssociateHaVip', 'UnassociateHaVip']);
/** Most instances or ENIs per HaVip (AssociateHaVip, VPC 2016-04-28: "up to 10"). */
export const MAX_ASSOCIATIONS = 10;

/** Error codes, HTTP status and message; the page each comes from is named beside it. */
export const HAVIP_ERRORS = {
  // common parameters (every API's common error list)
  MissingParameter: { status: 400, message: 'The input parameter that is mandatory for processing this request is not supplied.' },
  InvalidParameter: { status: 400, message: 'The specified parameter is not valid.' },
  // AssociateHaVip and UnassociateHaVip
  IncorrectHaVipStatus: { status: 400, message: "HaVip can be operated by this action only when it's status is Available or InUse." },
  IncorrectInstanceStatus: { status: 400, message: "ECS instance can be operated by this action only when it's status is Running or Stopped." },
  // AssociateHaVip
  'CountLimitExceeded.HaVipOnECSInstance': { status: 400, message: 'The amount of Instance associated with the specified HaVip reach its limits.' },
  // UnassociateHaVip
  ResourceNotAssociated: { status: 400, message: 'The HaVip and ECS instance are not associated.' },
  'Forbidden.UnassociateMaster': { status: 400, message: 'Unassociating a master instance is not allowed unless the parameter Force is True.' },
  // Not on the pages read (they state the rule, not the code): an unknown HaVip or
  // instance, an instance in another vSwitch, instances mixed with ENIs.
  'InvalidHaVipId.NotFound': { status: 404, message: 'The specified HaVip does not exist.' },
  'InvalidInstanceId.NotFound': { status: 404, message: 'The specified InstanceId does not exist.' },
  'InvalidVSwitchId.Mismatch': { status: 400, message: 'The HaVip and ECS instance must belong to the same vSwitch.' },
} as const;

export type HaVipErrorCode = keyof typeof HAVIP_ERRORS;

export class HaVipApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: HaVipErrorCode,
    detail?: string,
  ) {
    super(detail ? `${HAVIP_ERRORS[code].message} ${detail}` : HAVIP_ERRORS[code].message);
    this.status = HAVIP_ERRORS[code].status;
  }
}

export type HaVipStatus = 'Creating' | 'Available' | 'InUse' | 'Associating' | 'Unassociating' | 'Deleting';

export interface HaVip {
  id: string;
  ipAddress: string;
  vpc: string;
  vswitch: string;
  status: HaVipStatus;
  associated: string[];
  associatedType?: 'EcsInstance' | 'NetworkInterface';
  /** The instance that announced the address last (when hooks.masterOf is not given). */
  master?: string;
}

export interface HaVipHooks {
  onAssociate?: (havipId: string, instanceId: string) => void | Promise<void>;
  /** After this the VPC no longer delivers the address to the instance. */
  onUnassociate?: (havipId: string, instanceId: string) => void | Promise<void>;
  /** Which instance announced the address last (the lab reads the ARP cache). */
  masterOf?: (h: HaVip) => string | undefined;
  onHookError?: (what: string, err: unknown) => void;
}

export interface HaVipOptions {
  havips: HaVip[];
  /** How long Associating / Unassociating last (default 500 ms each). */
  associateMs?: number;
  unassociateMs?: number;
  hooks?: HaVipHooks;
}

function repeatList(p: Record<string, string>, prefix: string): string[] {
  return Object.keys(p)
    .filter((k) => k.startsWith(prefix) && /^\d+$/.test(k.slice(prefix.length)))
    .sort((a, b) => Number(a.slice(prefix.length)) - Number(b.slice(prefix.length)))
    .map((k) => p[k]!);
}

export class HaVipService {
  readonly havips = new Map<string, HaVip>();
  readonly events: { at: number; what: string }[] = [];
  associateMs: number;
  unassociateMs: number;
  hooks: HaVipHooks;
  private timers = new Set<NodeJS.Timeout>();
  private tokens = new Map<string, Record<string, unknown>>();

  constructor(
    private readonly ecs: EcsState,
    o: HaVipOptions,
  ) {
    for (const h of o.havips) this.havips.set(h.id, { ...h, associated: [...h.associated] });
    this.associateMs = o.associateMs ?? 500;
    this.unassociateMs = o.unassociateMs ?? 500;
    this.hooks = o.hooks ?? {};
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** The instance announces the address (gratuitous ARP), outside the lab. */
  announce(havipId: string, instanceId: string | undefined): void {
    this.havip(havipId).master = instanceId;
  }

  masterOf(h: HaVip): string | undefined {
    const m = this.hooks.masterOf ? this.hooks.masterOf(h) : h.master;
    return m && h.associated.includes(m) ? m : undefined;
  }

  private havip(id: string): HaVip {
    const h = this.havips.get(id);
    if (!h) throw new HaVipApiError('InvalidHaVipId.NotFound', `HaVipId: ${id}`);
    return h;
  }

  private note(what: string): void {
    this.events.push({ at: Date.now(), what });
  }

  private later(ms: number, fn: () => Promise<void>): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      void fn();
    }, ms);
    this.timers.add(t);
  }

  private async hook(what: string, fn: (() => void | Promise<void>) | undefined): Promise<void> {
    if (!fn) return;
    try {
      await fn();
    } catch (err) {
      this.hooks.onHookError?.(what, err);
    }
  }

  private required(p: Record<string, string>, name: string): string {
    const v = p[name];
    if (v === undefined || v === '') throw new HaVipApiError('MissingParameter', `The input parameter "${name}" that is mandatory for processing this request is not supplied.`);
    return v;
  }

  private instanceType(p: Record<string, string>): 'EcsInstance' | 'NetworkInterface' {
    const t = p.InstanceType ?? 'EcsInstance';
    if (t !== 'EcsInstance' && t !== 'NetworkInterface') throw new HaVipApiError('InvalidParameter', `InstanceType ${t}: EcsInstance or NetworkInterface.`);
    return t;
  }

  /** Status after a change settles: InUse while associated with anything. */
  private settled(h: HaVip): HaVipStatus {
    return h.associated.length ? 'InUse' : 'Available';
  }

  dispatch(action: string, p: Record<string, string>): Record<string, unknown> {
    if (p.RegionId !== this.ecs.region) {
      this.required(p, 'RegionId');
      if (action === 'DescribeHaVips') return { TotalCount: 0, PageNumber: 1, PageSize: 10, HaVips: { HaVip: [] } };
      throw new HaVipApiError('InvalidHaVipId.NotFound', `HaVipId: ${p.HaVipId ?? ''} in region ${p.RegionId}`);
    }
    const token = p.ClientToken ? `${action}:${p.ClientToken}` : undefined;
    if (token && this.tokens.has(token)) return this.tokens.get(token)!;
    let out: Record<string, unknown>;
    switch (action) {
      case 'DescribeHaVips':
        out = this.describe(p);
        break;
      case 'AssociateHaVip':
        this.associate(this.required(p, 'HaVipId'), this.required(p, 'InstanceId'), this.instanceType(p));
        out = {};
        break;
      case 'UnassociateHaVip':
        this.unassociate(this.required(p, 'HaVipId'), this.required(p, 'InstanceId'), this.instanceType(p), p.Force === 'true' || p.Force === 'True');
        out = {};
        break;
      default:
        throw new HaVipApiError('InvalidParameter', `Action ${action}.`);
    }
    if (token && action !== 'DescribeHaVips') this.tokens.set(token, out);
    return out;
  }

  private describe(p: Record<string, string>): Record<string, unknown> {
    let list = [...this.havips.values()];
    for (let n = 1; n <= 5; n++) {
      const key = p[`Filter.${n}.Key`];
      if (!key) continue;
      const values = repeatList(p, `Filter.${n}.Value.`);
      const field: Record<string, (h: HaVip) => string> = { HaVipId: (h) => h.id, VpcId: (h) => h.vpc, VSwitchId: (h) => h.vswitch, Status: (h) => h.status, HaVipAddress: (h) => h.ipAddress };
      const get = field[key];
      if (!get) throw new HaVipApiError('InvalidParameter', `Filter.${n}.Key ${key}.`);
      list = list.filter((h) => values.includes(get(h)));
    }
    const PageNumber = Math.max(1, Number(p.PageNumber ?? 1) || 1);
    const PageSize = Math.min(50, Math.max(1, Number(p.PageSize ?? 10) || 10));
    const items = list.slice((PageNumber - 1) * PageSize, PageNumber * PageSize);
    return {
      TotalCount: list.length,
      PageNumber,
      PageSize,
      HaVips: {
        HaVip: items.map((h) => ({
          HaVipId: h.id,
          RegionId: this.ecs.region,
          VpcId: h.vpc,
          VSwitchId: h.vswitch,
          IpAddress: h.ipAddress,
          Status: h.status,
          MasterInstanceId: this.masterOf(h) ?? '',
          AssociatedInstanceType: h.associated.length ? (h.associatedType ?? 'EcsInstance') : '',
          AssociatedInstances: { associatedInstance: [...h.associated] },
          AssociatedEipAddresses: { associatedEipAddresse: [] },
          CreateTime: '2024-01-01T00:00:00Z',
          Description: '',
        })),
      },
    };
  }

  private checkStates(h: HaVip, instanceId: string, type: 'EcsInstance' | 'NetworkInterface'): void {
    if (h.status !== 'Available' && h.status !== 'InUse') throw new HaVipApiError('IncorrectHaVipStatus', `HaVip ${h.id} is ${h.status}.`);
    if (type === 'EcsInstance') {
      const i = this.ecs.instances.get(instanceId);
      if (!i) throw new HaVipApiError('InvalidInstanceId.NotFound', `InstanceId: ${instanceId}`);
      if (i.status !== 'Running' && i.status !== 'Stopped') throw new HaVipApiError('IncorrectInstanceStatus', `Instance ${instanceId} is ${i.status}.`);
    }
  }

  associate(havipId: string, instanceId: string, type: 'EcsInstance' | 'NetworkInterface'): void {
    const h = this.havip(havipId);
    this.checkStates(h, instanceId, type);
    if (h.associated.includes(instanceId)) return;
    if (h.associated.length && (h.associatedType ?? 'EcsInstance') !== type) throw new HaVipApiError('InvalidParameter', `HaVip ${h.id} is associated with ${h.associatedType}s; it cannot take a ${type} as well.`);
    if (h.associated.length >= MAX_ASSOCIATIONS) throw new HaVipApiError('CountLimitExceeded.HaVipOnECSInstance', `HaVip ${h.id} has ${h.associated.length}.`);
    const vswitch = type === 'EcsInstance' ? this.ecs.instances.get(instanceId)!.vswitch : this.ecs.enis.get(instanceId)?.vswitch;
    if (vswitch !== h.vswitch) throw new HaVipApiError('InvalidVSwitchId.Mismatch', `HaVip ${h.id} is in ${h.vswitch}, ${instanceId} in ${vswitch ?? 'no vSwitch'}.`);
    h.status = 'Associating';
    this.note(`${h.id} Associating ${instanceId}`);
    this.later(this.associateMs, async () => {
      await this.hook('onAssociate', () => this.hooks.onAssociate?.(h.id, instanceId));
      h.associated.push(instanceId);
      h.associatedType = type;
      h.status = this.settled(h);
      this.note(`${h.id} ${h.status} +${instanceId}`);
    });
  }

  unassociate(havipId: string, instanceId: string, type: 'EcsInstance' | 'NetworkInterface', force: boolean): void {
    const h = this.havip(havipId);
    if (h.status !== 'InUse' && h.status !== 'Available') throw new HaVipApiError('IncorrectHaVipStatus', `HaVip ${h.id} is ${h.status}.`);
    this.checkStates(h, instanceId, type);
    if (!h.associated.includes(instanceId)) throw new HaVipApiError('ResourceNotAssociated', `HaVip ${h.id}, instance ${instanceId}.`);
    if (this.masterOf(h) === instanceId && !force) throw new HaVipApiError('Forbidden.UnassociateMaster', `${instanceId} is the master of ${h.id}.`);
    h.status = 'Unassociating';
    this.note(`${h.id} Unassociating ${instanceId}`);
    this.later(this.unassociateMs, async () => {
      await this.hook('onUnassociate', () => this.hooks.onUnassociate?.(h.id, instanceId));
      h.associated = h.associated.filter((x) => x !== instanceId);
      if (h.master === instanceId) h.master = undefined;
      if (!h.associated.length) delete h.associatedType;
      h.status = this.settled(h);
      this.note(`${h.id} ${h.status} -${instanceId}`);
    });
  }
}

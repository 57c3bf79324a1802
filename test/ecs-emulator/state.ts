/**
 * The emulated region: ECS instances and elastic network interfaces with the
 * API's status values and asynchronous transitions.
 *
 * ENI: Available → Attaching → InUse → Detaching → Available (Deleting exists as a
 * status but nothing here deletes). Instance: Pending, Running, Starting,
 * Stopping, Stopped. A detach from an instance whose guest OS is hung stays in
 * Detaching until the instance is Stopped (e.g. by a forced StopInstance), as on
 * the real platform; a graceful stop of a hung guest never finishes.
 *
 * Hooks let a test lab make attachment real: onAttach runs before an ENI turns
 * InUse, onDetach before it turns Available.
 */
import { ApiError } from './errors';

export type EniStatus = 'Available' | 'Attaching' | 'InUse' | 'Detaching' | 'Deleting';
export type InstanceStatus = 'Pending' | 'Running' | 'Starting' | 'Stopping' | 'Stopped';

export interface Instance {
  id: string;
  name?: string;
  zone: string;
  vpc: string;
  vswitch: string;
  status: InstanceStatus;
  /** The guest OS does not answer: detaches hang, graceful stops never finish. */
  hungOs?: boolean;
  /** Most ENIs the instance type takes (primary included). */
  maxEnis?: number;
}

export interface Eni {
  id: string;
  type: 'Primary' | 'Secondary';
  zone: string;
  vpc: string;
  vswitch: string;
  privateIp: string;
  /** Secondary private IPs (the secondary-ip mover moves these). */
  secondaryIps?: string[];
  mac?: string;
  instanceId?: string;
  status: EniStatus;
  name?: string;
}

export interface Delays {
  attachMs: number;
  detachMs: number;
  stopMs: number;
  forceStopMs: number;
  startMs: number;
}

export const DEFAULT_DELAYS: Delays = { attachMs: 2000, detachMs: 2000, stopMs: 3000, forceStopMs: 1000, startMs: 2000 };

export interface StateSnapshot {
  region: string;
  instances: Instance[];
  enis: Eni[];
  delays?: Partial<Delays>;
}

export interface Hooks {
  onAttach?: (eniId: string, instanceId: string) => void | Promise<void>;
  onDetach?: (eniId: string, instanceId: string) => void | Promise<void>;
  onAssignIp?: (ip: string, eniId: string, instanceId: string | undefined) => void | Promise<void>;
  onUnassignIp?: (ip: string, eniId: string, instanceId: string | undefined) => void | Promise<void>;
  /** A hook failed: the transition still completes (the platform does not wait for a guest). */
  onHookError?: (what: string, err: unknown) => void;
}

export class EcsState {
  readonly region: string;
  readonly instances = new Map<string, Instance>();
  readonly enis = new Map<string, Eni>();
  delays: Delays;
  hooks: Hooks = {};
  private timers = new Set<NodeJS.Timeout>();
  /** Events in order, for assertions: "eni-x Attaching i-y", ... */
  readonly events: { at: number; what: string }[] = [];

  constructor(s: StateSnapshot) {
    this.region = s.region;
    this.delays = { ...DEFAULT_DELAYS, ...(s.delays ?? {}) };
    for (const i of s.instances) this.instances.set(i.id, { ...i });
    for (const e of s.enis) this.enis.set(e.id, { ...e, secondaryIps: [...(e.secondaryIps ?? [])] });
  }

  snapshot(): StateSnapshot {
    return { region: this.region, instances: [...this.instances.values()].map((i) => ({ ...i })), enis: [...this.enis.values()].map((e) => ({ ...e })), delays: { ...this.delays } };
  }

  private note(what: string): void {
    this.events.push({ at: Date.now(), what });
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private async runHook(what: string, fn: (() => void | Promise<void>) | undefined): Promise<void> {
    if (!fn) return;
    try {
      await fn();
    } catch (err) {
      this.hooks.onHookError?.(what, err);
    }
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  instance(id: string, code: 'InvalidInstanceId.NotFound' | 'InvalidEcsId.NotFound' = 'InvalidInstanceId.NotFound'): Instance {
    const i = this.instances.get(id);
    if (!i) throw new ApiError(code, `InstanceId: ${id}`);
    return i;
  }

  eni(id: string): Eni {
    const e = this.enis.get(id);
    if (!e) throw new ApiError('InvalidEniId.NotFound', `NetworkInterfaceId: ${id}`);
    return e;
  }

  enisOf(instanceId: string): Eni[] {
    return [...this.enis.values()].filter((e) => e.instanceId === instanceId);
  }

  // ---- ENI attachment -------------------------------------------------------------

  attach(eniId: string, instanceId: string): void {
    const eni = this.eni(eniId);
    const inst = this.instance(instanceId, 'InvalidEcsId.NotFound');
    if (eni.type === 'Primary') throw new ApiError('InvalidOperation.InvalidEniState', `${eniId} is a primary ENI.`);
    if (eni.status === 'Attaching' || eni.status === 'Detaching') throw new ApiError('OperationConflict', `${eniId} is ${eni.status}.`);
    if (eni.status !== 'Available') throw new ApiError('InvalidOperation.InvalidEniState', `${eniId} is ${eni.status}${eni.instanceId ? ` on ${eni.instanceId}` : ''}.`);
    if (inst.status !== 'Running' && inst.status !== 'Stopped') throw new ApiError('InvalidOperation.InvalidEcsState', `${instanceId} is ${inst.status}.`);
    if (inst.zone !== eni.zone) throw new ApiError('InvalidOperation.AvailabilityZoneMismatch', `${eniId} is in ${eni.zone}, ${instanceId} in ${inst.zone}.`);
    if (inst.vpc !== eni.vpc) throw new ApiError('InvalidOperation.VpcMismatch', `${eniId} is in ${eni.vpc}, ${instanceId} in ${inst.vpc}.`);
    const count = this.enisOf(instanceId).length;
    if (count >= (inst.maxEnis ?? 3)) throw new ApiError('InvalidOperation.EniCountExceeded', `${instanceId} has ${count} ENIs.`);
    eni.status = 'Attaching';
    eni.instanceId = instanceId;
    this.note(`${eniId} Attaching ${instanceId}`);
    this.later(this.delays.attachMs, () => {
      void this.runHook(`onAttach(${eniId}, ${instanceId})`, this.hooks.onAttach && (() => this.hooks.onAttach!(eniId, instanceId))).then(() => {
        if (eni.status === 'Attaching' && eni.instanceId === instanceId) {
          eni.status = 'InUse';
          this.note(`${eniId} InUse ${instanceId}`);
        }
      });
    });
  }

  detach(eniId: string, instanceId: string): void {
    const eni = this.eni(eniId);
    const inst = this.instance(instanceId, 'InvalidEcsId.NotFound');
    if (eni.type === 'Primary') throw new ApiError('InvalidOperation.DetachPrimaryEniNotAllowed', `${eniId} is the primary ENI of ${eni.instanceId}.`);
    if (eni.status === 'Available') throw new ApiError('InvalidOperation.InvalidEniState', `${eniId} is Available (not attached).`);
    if (eni.instanceId !== instanceId) throw new ApiError('InvalidOperation.EniNotAttached', `${eniId} is attached to ${eni.instanceId}, not ${instanceId}.`);
    if (eni.status === 'Attaching') throw new ApiError('OperationConflict', `${eniId} is Attaching.`);
    if (eni.status !== 'InUse' && eni.status !== 'Detaching') throw new ApiError('InvalidOperation.InvalidEniState', `${eniId} is ${eni.status}.`);
    if (inst.status !== 'Running' && inst.status !== 'Stopped') throw new ApiError('InvalidOperation.InvalidEcsState', `${instanceId} is ${inst.status}.`);
    const first = eni.status === 'InUse';
    eni.status = 'Detaching';
    this.note(first ? `${eniId} Detaching ${instanceId}` : `${eniId} Detaching ${instanceId} (again)`);
    this.scheduleDetach(eni, instanceId);
  }

  /** Complete a detach after the delay, unless the guest is hung and the instance still runs. */
  private scheduleDetach(eni: Eni, instanceId: string): void {
    const inst = this.instances.get(instanceId);
    if (inst?.hungOs && inst.status !== 'Stopped') return; // stays Detaching; resumed when the instance stops
    this.later(this.delays.detachMs, () => {
      if (eni.status !== 'Detaching' || eni.instanceId !== instanceId) return;
      const i = this.instances.get(instanceId);
      if (i?.hungOs && i.status !== 'Stopped') return;
      eni.status = 'Available';
      eni.instanceId = undefined;
      this.note(`${eni.id} Available (from ${instanceId})`);
      void this.runHook(`onDetach(${eni.id}, ${instanceId})`, this.hooks.onDetach && (() => this.hooks.onDetach!(eni.id, instanceId)));
    });
  }

  // ---- private IP addresses -------------------------------------------------------

  assignIps(eniId: string, ips: string[]): string[] {
    const eni = this.eni(eniId);
    if (eni.status !== 'InUse' && eni.status !== 'Available') throw new ApiError('InvalidOperation.InvalidEniState', `${eniId} is ${eni.status}.`);
    for (const ip of ips) {
      for (const other of this.enis.values()) {
        if (other.vpc !== eni.vpc) continue;
        const held = other.privateIp === ip || (other.secondaryIps ?? []).includes(ip);
        if (held && other.id !== eniId) throw new ApiError('InvalidIp.IpAssigned', `${ip} is on ${other.id}.`);
      }
    }
    const list = (eni.secondaryIps ??= []);
    const added: string[] = [];
    for (const ip of ips) {
      if (!list.includes(ip)) {
        if (list.length >= 9) throw new ApiError('InvalidOperation.Ipv4CountExceeded', `${eniId} has ${list.length + 1} private IPs.`);
        list.push(ip);
        added.push(ip);
      }
    }
    for (const ip of added) {
      this.note(`${ip} assigned to ${eniId}`);
      void this.runHook(`onAssignIp(${ip})`, this.hooks.onAssignIp && (() => this.hooks.onAssignIp!(ip, eniId, eni.instanceId)));
    }
    return ips;
  }

  unassignIps(eniId: string, ips: string[]): void {
    const eni = this.eni(eniId);
    if (eni.status !== 'InUse' && eni.status !== 'Available') throw new ApiError('InvalidOperation.InvalidEniState', `${eniId} is ${eni.status}.`);
    for (const ip of ips) {
      if (ip === eni.privateIp) throw new ApiError('InvalidParam.PrimaryIp', `${ip} is the primary IP of ${eniId}.`);
      if (!(eni.secondaryIps ?? []).includes(ip)) throw new ApiError('InvalidIp.IpUnassigned', `${ip} is not on ${eniId}.`);
    }
    eni.secondaryIps = (eni.secondaryIps ?? []).filter((ip) => !ips.includes(ip));
    for (const ip of ips) {
      this.note(`${ip} unassigned from ${eniId}`);
      void this.runHook(`onUnassignIp(${ip})`, this.hooks.onUnassignIp && (() => this.hooks.onUnassignIp!(ip, eniId, eni.instanceId)));
    }
  }

  // ---- instance power -------------------------------------------------------------

  stopInstance(instanceId: string, force: boolean): void {
    const inst = this.instance(instanceId);
    const escalating = inst.status === 'Stopping' && force;
    if (inst.status !== 'Running' && !escalating) throw new ApiError('IncorrectInstanceStatus', `${instanceId} is ${inst.status}.`);
    inst.status = 'Stopping';
    this.note(`${instanceId} Stopping${force ? ' (force)' : ''}`);
    if (inst.hungOs && !force) return; // the guest never shuts down by itself
    this.later(force ? this.delays.forceStopMs : this.delays.stopMs, () => {
      if (inst.status !== 'Stopping') return;
      this.markStopped(inst);
    });
  }

  private markStopped(inst: Instance): void {
    inst.status = 'Stopped';
    inst.hungOs = false;
    this.note(`${inst.id} Stopped`);
    for (const e of this.enisOf(inst.id)) if (e.status === 'Detaching') this.scheduleDetach(e, inst.id);
  }

  startInstance(instanceId: string): void {
    const inst = this.instance(instanceId);
    if (inst.status !== 'Stopped') throw new ApiError('IncorrectInstanceStatus', `${instanceId} is ${inst.status}.`);
    inst.status = 'Starting';
    this.note(`${instanceId} Starting`);
    this.later(this.delays.startMs, () => {
      if (inst.status === 'Starting') {
        inst.status = 'Running';
        this.note(`${instanceId} Running`);
      }
    });
  }

  rebootInstance(instanceId: string, force: boolean): void {
    const inst = this.instance(instanceId);
    if (inst.status !== 'Running') throw new ApiError('IncorrectInstanceStatus', `${instanceId} is ${inst.status}.`);
    inst.status = 'Stopping';
    this.note(`${instanceId} Stopping (reboot${force ? ', force' : ''})`);
    if (inst.hungOs && !force) return;
    this.later(force ? this.delays.forceStopMs : this.delays.stopMs, () => {
      if (inst.status !== 'Stopping') return;
      this.markStopped(inst);
      this.startInstance(instanceId);
    });
  }
}

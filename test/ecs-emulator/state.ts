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
 *
 * Preconditions and the codes they answer with follow the ECS API reference pages
 * named beside each check (errors.ts names the page of every code). Every change is
 * kept in a short history so the server can answer a Describe from the state as it
 * was some time ago (eventual consistency, see viewAt).
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
  /** StoppedMode of the last StopInstance (KeepCharging keeps the instance's resources). */
  stoppedMode?: string;
}

export interface VSwitch {
  id: string;
  zone: string;
  vpc: string;
  /** IPv4 CIDR block, e.g. 10.77.0.0/16. */
  cidr: string;
}

/** Whether an IPv4 address lies in a CIDR block. */
export function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const n = (a: string) => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits ?? 32));
  return Math.floor(n(ip) / size) === Math.floor(n(base!) / size);
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
  /** vSwitches with their CIDR blocks; an ENI whose vSwitch is not listed takes any address. */
  vswitches?: VSwitch[];
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
  readonly vswitches = new Map<string, VSwitch>();
  delays: Delays;
  hooks: Hooks = {};
  private timers = new Set<NodeJS.Timeout>();
  /** Events in order, for assertions: "eni-x Attaching i-y", ... */
  readonly events: { at: number; what: string }[] = [];
  /** The state after each change, oldest first (bounded), for viewAt. */
  private history: { at: number; snap: StateSnapshot }[] = [];

  constructor(s: StateSnapshot) {
    this.region = s.region;
    this.delays = { ...DEFAULT_DELAYS, ...(s.delays ?? {}) };
    for (const i of s.instances) this.instances.set(i.id, { ...i });
    for (const e of s.enis) this.enis.set(e.id, { ...e, secondaryIps: [...(e.secondaryIps ?? [])] });
    for (const v of s.vswitches ?? []) this.vswitches.set(v.id, { ...v });
    this.history.push({ at: 0, snap: this.snapshot() });
  }

  snapshot(): StateSnapshot {
    return {
      region: this.region,
      instances: [...this.instances.values()].map((i) => ({ ...i })),
      enis: [...this.enis.values()].map((e) => ({ ...e, secondaryIps: [...(e.secondaryIps ?? [])] })),
      vswitches: [...this.vswitches.values()].map((v) => ({ ...v })),
      delays: { ...this.delays },
    };
  }

  /** Record a change: an event for assertions, and the new state for lagging Describes. */
  note(what: string): void {
    const at = Date.now();
    this.events.push({ at, what });
    this.history.push({ at, snap: this.snapshot() });
    if (this.history.length > 2000) this.history.splice(0, this.history.length - 2000);
  }

  /**
   * The state as it was at time `at` (read-only view): what a Describe answers when the
   * API's read side lags behind its writes. The ECS reference calls attach/detach
   * asynchronous and says to poll the status; it gives no bound for how stale a read may be.
   */
  viewAt(at: number): EcsState {
    let snap = this.history[0]!.snap;
    for (const h of this.history) {
      if (h.at > at) break;
      snap = h.snap;
    }
    return new EcsState(snap);
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

  /**
   * ECS API AttachNetworkInterface: "The ENI must be in the Available state" (any other
   * state, Attaching and Detaching included: InvalidOperation.InvalidEniState, HTTP 400);
   * "the instance must be in the Running or Stopped state" (InvalidOperation.InvalidEcsState);
   * same zone and VPC; at most as many ENIs as the instance type takes
   * (EniPerInstanceLimitExceeded).
   */
  attach(eniId: string, instanceId: string): void {
    const eni = this.eni(eniId);
    const inst = this.instance(instanceId, 'InvalidEcsId.NotFound');
    if (eni.type === 'Primary') throw new ApiError('InvalidOperation.InvalidEniState', `${eniId} is a primary ENI.`);
    if (eni.status !== 'Available') throw new ApiError('InvalidOperation.InvalidEniState', `${eniId} is ${eni.status}${eni.instanceId ? ` on ${eni.instanceId}` : ''}; expecting Available.`);
    if (inst.status !== 'Running' && inst.status !== 'Stopped') throw new ApiError('InvalidOperation.InvalidEcsState', `${instanceId} is ${inst.status}.`);
    if (inst.zone !== eni.zone) throw new ApiError('InvalidOperation.AvailabilityZoneMismatch', `${eniId} is in ${eni.zone}, ${instanceId} in ${inst.zone}.`);
    if (inst.vpc !== eni.vpc) throw new ApiError('InvalidOperation.VpcMismatch', `${eniId} is in ${eni.vpc}, ${instanceId} in ${inst.vpc}.`);
    const count = this.enisOf(instanceId).length;
    if (count >= (inst.maxEnis ?? 3)) throw new ApiError('EniPerInstanceLimitExceeded', `${instanceId} has ${count} ENIs.`);
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

  /**
   * ECS API DetachNetworkInterface: not the primary ENI
   * (InvalidOperation.DetachPrimaryEniNotAllowed); "the ENI must be in the Detaching or
   * InUse state" (a repeated detach of a Detaching ENI is accepted, as the page advises);
   * the instance Running or Stopped (InvalidOperation.InvalidEcsState). The page does not
   * say what an ENI attached to another instance answers: the emulator answers
   * InvalidOperation.InvalidEniState, the code for "not in a state this request can use".
   */
  detach(eniId: string, instanceId: string): void {
    const eni = this.eni(eniId);
    const inst = this.instance(instanceId, 'InvalidEcsId.NotFound');
    if (eni.type === 'Primary') throw new ApiError('InvalidOperation.DetachPrimaryEniNotAllowed', `${eniId} is the primary ENI of ${eni.instanceId}.`);
    if (eni.status !== 'InUse' && eni.status !== 'Detaching') throw new ApiError('InvalidOperation.InvalidEniState', `${eniId} is ${eni.status}; expecting InUse or Detaching.`);
    if (eni.instanceId !== instanceId) throw new ApiError('InvalidOperation.InvalidEniState', `${eniId} is ${eni.status} on ${eni.instanceId}, not on ${instanceId}.`);
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

  /**
   * ECS API AssignPrivateIpAddresses: the ENI Available or InUse
   * (InvalidOperation.InvalidEniState); each address inside the CIDR block of the ENI's
   * vSwitch (InvalidVSwitchId.IpInvalid) and held by no other ENI (InvalidIp.IpAssigned).
   */
  assignIps(eniId: string, ips: string[]): string[] {
    const eni = this.eni(eniId);
    if (eni.status !== 'InUse' && eni.status !== 'Available') throw new ApiError('InvalidOperation.InvalidEniState', `${eniId} is ${eni.status}.`);
    const vsw = this.vswitches.get(eni.vswitch);
    for (const ip of ips) if (vsw && !inCidr(ip, vsw.cidr)) throw new ApiError('InvalidVSwitchId.IpInvalid', `${ip} is not in ${vsw.id} (${vsw.cidr}).`);
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

  /** ECS API UnassignPrivateIpAddresses: the ENI Available or InUse; each address on it (InvalidIp.IpUnassigned). */
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

  /**
   * ECS API StopInstance: "Stops an ECS instance in the Running state" — from any other
   * state, Stopping included (forced or not), IncorrectInstanceStatus. A graceful stop of a
   * hung guest never finishes; a forced one does. StoppedMode is kept for assertions.
   */
  stopInstance(instanceId: string, force: boolean, stoppedMode?: string): void {
    const inst = this.instance(instanceId);
    this.checkStoppable(inst);
    inst.status = 'Stopping';
    if (stoppedMode) inst.stoppedMode = stoppedMode;
    this.note(`${instanceId} Stopping${force ? ' (force)' : ''}${stoppedMode ? ` ${stoppedMode}` : ''}`);
    if (inst.hungOs && !force) return; // the guest never shuts down by itself
    this.later(force ? this.delays.forceStopMs : this.delays.stopMs, () => {
      if (inst.status !== 'Stopping') return;
      this.markStopped(inst);
    });
  }

  checkStoppable(inst: Instance): void {
    if (inst.status !== 'Running') throw new ApiError('IncorrectInstanceStatus', `${inst.id} is ${inst.status}.`);
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

/**
 * What the ENI mover does next, decided from what the API last reported (pure).
 * The mover loops: describe → plan → act → wait, until the plan says done or fail.
 * It converges rather than assumes: an ENI already where it should be is success.
 */

export interface EniState {
  status: string;
  type: string;
  instanceId?: string;
}

export type Step =
  | { kind: 'done'; action: string; why: string }
  | { kind: 'wait'; why: string }
  | { kind: 'detach'; from: string; again: boolean }
  | { kind: 'force-stop'; instanceId: string }
  | { kind: 'attach'; to: string }
  /** attach only: the ENI sits on another instance; fence it away from there first. */
  | { kind: 'fence-other'; from: string }
  | { kind: 'fail'; code: string; why: string };

export interface FenceInput {
  eniId: string;
  eni: EniState | undefined;
  /** The instance the ENI must leave. Undefined: any instance except `keep`. */
  from?: string;
  keep?: string;
  stonith: boolean;
  /** How long the ENI has been Detaching from the fenced instance while we watched. */
  detachingForMs: number;
  /** Time since heir last called DetachNetworkInterface (Infinity when never). */
  sinceLastDetachMs: number;
  /** Re-issue a detach that has not completed after this long. */
  redetachAfterMs: number;
  /** Detaching this long counts as stuck (hung guest OS). */
  stuckAfterMs: number;
  forceStopIssued: boolean;
  /** Status of the fenced instance, once heir has force-stopped it. */
  instanceStatus?: string;
  /** How to name an instance in messages (e.g. "i-abc (db1)"). */
  label?: (instanceId: string) => string;
}

function common(eniId: string, eni: EniState | undefined): Step | undefined {
  if (!eni) return { kind: 'fail', code: 'InvalidEniId.NotFound', why: `ENI ${eniId} does not exist in this region (check address.eni_id and heir.cloud.region_id)` };
  if (eni.type && eni.type !== 'Secondary') return { kind: 'fail', code: 'EniNotSecondary', why: `ENI ${eniId} is a ${eni.type} ENI; only a secondary ENI can move between instances` };
  if (eni.status === 'Deleting') return { kind: 'fail', code: 'EniDeleting', why: `ENI ${eniId} is being deleted` };
  return undefined;
}

export function planFence(i: FenceInput): Step {
  const c = common(i.eniId, i.eni);
  if (c) return c;
  const eni = i.eni!;
  if (eni.status === 'Available' || !eni.instanceId) return { kind: 'done', action: 'detached', why: `ENI ${i.eniId} is Available (attached to no instance)` };
  const holder = eni.instanceId;
  const name = i.label ?? ((x: string) => x);
  const mustLeave = i.from !== undefined ? holder === i.from : holder !== i.keep;
  if (!mustLeave) return { kind: 'done', action: 'not-on-old', why: `ENI ${i.eniId} is ${eni.status} on ${name(holder)}, not on ${i.from ?? 'the old master'}` };
  switch (eni.status) {
    case 'InUse':
      return { kind: 'detach', from: holder, again: false };
    case 'Attaching':
      return { kind: 'wait', why: `ENI ${i.eniId} is still Attaching to ${name(holder)}; it can be detached once InUse` };
    case 'Detaching': {
      if (i.forceStopIssued) {
        if (i.instanceStatus === 'Stopped' && i.sinceLastDetachMs >= i.redetachAfterMs) return { kind: 'detach', from: holder, again: true };
        return { kind: 'wait', why: `instance ${name(holder)} force-stopped (now ${i.instanceStatus ?? 'unknown'}); waiting for the detach to complete` };
      }
      if (i.detachingForMs >= i.stuckAfterMs) {
        if (i.stonith) return { kind: 'force-stop', instanceId: holder };
        return {
          kind: 'fail',
          code: 'StuckDetaching',
          why: `ENI ${i.eniId} has been Detaching from ${name(holder)} for ${Math.round(i.detachingForMs / 1000)} s (the guest OS does not answer); failover.stonith is off, so heir does not force-stop ${name(holder)} — stop or restart that instance, or set failover.stonith: true`,
        };
      }
      if (i.sinceLastDetachMs >= i.redetachAfterMs) return { kind: 'detach', from: holder, again: true };
      return { kind: 'wait', why: `ENI ${i.eniId} is Detaching from ${name(holder)}` };
    }
    default:
      return { kind: 'wait', why: `ENI ${i.eniId} is ${eni.status} on ${name(holder)}` };
  }
}

export function planAttach(eniId: string, eni: EniState | undefined, to: string): Step {
  const c = common(eniId, eni);
  if (c) return c;
  const e = eni!;
  if (e.instanceId === to && e.status === 'InUse') return { kind: 'done', action: 'attached', why: `ENI ${eniId} is InUse on ${to}` };
  if (e.instanceId === to && e.status === 'Attaching') return { kind: 'wait', why: `ENI ${eniId} is Attaching to ${to}` };
  if (e.status === 'Available' || !e.instanceId) return { kind: 'attach', to };
  return { kind: 'fence-other', from: e.instanceId };
}

/**
 * The ECS API adapter: the only place heir uses the ECS SDK (vpc-api.ts has the VPC's).
 *
 * - Credentials come from @alicloud/credentials' default chain (environment,
 *   OIDC, CLI/profile files, the ECS RAM role via instance metadata,
 *   ALIBABA_CLOUD_CREDENTIALS_URI). heir's configuration never holds an AccessKey.
 *   The chain is walked once per process, and one SDK client made per cloud settings
 *   (cloud-client.ts, shared with the VPC adapter).
 * - TLS is always verified; cloud.ca_file adds a CA bundle for the endpoint.
 * - Every call carries explicit connect and read timeouts. The SDK itself does
 *   not retry (7.x ignores RuntimeOptions.autoretry); retries are heir's (retry.ts).
 * - Errors become EcsApiError, naming the action, code, HTTP status and RequestId.
 */
import EcsClient, * as Ecs from '@alicloud/ecs20140526';
import type { CloudSettings } from '../config/schema';
import type { ApiCallRecord } from './types';
import { cloudCall, sharedClient, type CallRuntime } from './cloud-client';
import { EcsApiError } from './errors';

export { EcsApiError, isPermissionDenied, ramAction, toEcsError, type EcsErrorKind } from './errors';

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

export class EcsApi {
  private readonly client: EcsClient;
  private readonly runtime: CallRuntime;
  readonly regionId: string;

  constructor(
    readonly opts: EcsApiOptions,
    /** Every call is appended here (action, code, RequestId). */
    readonly journal: ApiCallRecord[] = [],
  ) {
    this.regionId = opts.region_id;
    const { client, runtime } = sharedClient('ecs', opts, (config) => new EcsClient(config), opts.legacySignature ? { signatureAlgorithm: 'v2' } : {});
    this.client = client;
    this.runtime = runtime;
  }

  /**
   * Remaining time budget of the current operation (ms); a call's read timeout
   * never exceeds it, so an operation's total time stays bounded.
   */
  budget: () => number = () => Infinity;

  /** One SDK call through cloud-client.ts: journaled, reported, its error normalized. */
  private call<T extends { body?: { requestId?: string } }>(action: string, fn: (rt: any) => Promise<T>): Promise<{ body: NonNullable<T['body']>; requestId?: string }> {
    return cloudCall(action, this.runtime, this.budget(), this.journal, fn);
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

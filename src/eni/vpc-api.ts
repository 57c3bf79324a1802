/**
 * The VPC API adapter for HaVips (DescribeHaVips, AssociateHaVip, UnassociateHaVip):
 * the only place heir uses the VPC SDK. Credentials, client, TLS, timeouts, journal,
 * metrics and errors are the ECS adapter's (cloud-client.ts): the process's one credential
 * chain, verified TLS with cloud.ca_file, every call journaled, errors as EcsApiError.
 */
import VpcClient, * as Vpc from '@alicloud/vpc20160428';
import type { CloudSettings } from '../config/schema';
import { cloudCall, sharedClient, type CallRuntime } from './cloud-client';
import type { ApiCallRecord } from './types';

export interface HaVipInfo {
  id: string;
  /** Creating, Available, InUse, Deleting (Associating / Unassociating while a change is under way). */
  status: string;
  ipAddress: string;
  vpcId: string;
  vSwitchId: string;
  /** EcsInstance or NetworkInterface (empty while associated with nothing). */
  associatedType: string;
  associated: string[];
  /** The instance that announced the address last (gratuitous ARP), as the VPC reports it. */
  masterInstanceId?: string;
}

/** Most instances (or ENIs) one HaVip may be associated with (AssociateHaVip, VPC API 2016-04-28). */
export const HAVIP_MAX_ASSOCIATIONS = 10;

export type VpcApiOptions = Pick<CloudSettings, 'region_id' | 'vpc_endpoint' | 'protocol' | 'connect_timeout_ms' | 'read_timeout_ms' | 'ca_file'>;

export class VpcApi {
  private readonly client: VpcClient;
  private readonly runtime: CallRuntime;
  readonly regionId: string;
  /** Remaining time budget of the current operation (ms); a call's read timeout never exceeds it. */
  budget: () => number = () => Infinity;

  constructor(
    opts: VpcApiOptions,
    readonly journal: ApiCallRecord[] = [],
  ) {
    this.regionId = opts.region_id;
    const { client, runtime } = sharedClient('vpc', { ...opts, endpoint: opts.vpc_endpoint }, (config) => new VpcClient(config));
    this.client = client;
    this.runtime = runtime;
  }

  private call<T extends { body?: { requestId?: string } }>(action: string, fn: (rt: any) => Promise<T>): Promise<{ body: NonNullable<T['body']>; requestId?: string }> {
    return cloudCall(action, this.runtime, this.budget(), this.journal, fn);
  }

  async describeHaVip(haVipId: string): Promise<{ havip?: HaVipInfo; requestId?: string }> {
    const { body, requestId } = await this.call('DescribeHaVips', (rt) =>
      this.client.describeHaVipsWithOptions(
        new Vpc.DescribeHaVipsRequest({ regionId: this.regionId, filter: [new Vpc.DescribeHaVipsRequestFilter({ key: 'HaVipId', value: [haVipId] })], pageSize: 50 }),
        rt,
      ),
    );
    const hit = (body.haVips?.haVip ?? []).find((h) => h.haVipId === haVipId);
    if (!hit) return { requestId };
    return {
      requestId,
      havip: {
        id: haVipId,
        status: hit.status ?? '',
        ipAddress: hit.ipAddress ?? '',
        vpcId: hit.vpcId ?? '',
        vSwitchId: hit.vSwitchId ?? '',
        associatedType: hit.associatedInstanceType ?? '',
        associated: hit.associatedInstances?.associatedInstance ?? [],
        ...(hit.masterInstanceId ? { masterInstanceId: hit.masterInstanceId } : {}),
      },
    };
  }

  async associate(haVipId: string, instanceId: string, clientToken: string): Promise<{ requestId?: string }> {
    const { requestId } = await this.call('AssociateHaVip', (rt) =>
      this.client.associateHaVipWithOptions(new Vpc.AssociateHaVipRequest({ regionId: this.regionId, haVipId, instanceId, instanceType: 'EcsInstance', clientToken }), rt),
    );
    return { requestId };
  }

  /** Force: a master instance (the one that announced the address last) is unassociated too. */
  async unassociate(haVipId: string, instanceId: string, clientToken: string): Promise<{ requestId?: string }> {
    const { requestId } = await this.call('UnassociateHaVip', (rt) =>
      this.client.unassociateHaVipWithOptions(new Vpc.UnassociateHaVipRequest({ regionId: this.regionId, haVipId, instanceId, instanceType: 'EcsInstance', force: 'true', clientToken }), rt),
    );
    return { requestId };
  }
}

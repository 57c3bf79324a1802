/**
 * Test fixtures around the emulator: a small region, and credentials handed to
 * the SDK's default chain the way production gets them (environment variables,
 * or ALIBABA_CLOUD_CREDENTIALS_URI served by the emulator). The instance
 * metadata provider and CLI/profile files are switched off so the chain never
 * reaches for 100.100.100.200 or the user's own files.
 */
import type { StateSnapshot } from './state';
import type { EcsEmulator } from './server';

export const REGION = 'cn-hangzhou';

/** Three instances (db1..db3) in one zone/VPC, one outside the zone, and the secondary ENI on db1. */
export function labRegion(o: { instances?: string[]; eniOn?: string; floatingIp?: string } = {}): StateSnapshot {
  const ids = o.instances ?? ['i-db1', 'i-db2', 'i-db3'];
  return {
    region: REGION,
    delays: { attachMs: 300, detachMs: 300, stopMs: 600, forceStopMs: 300, startMs: 300 },
    vswitches: [
      { id: 'vsw-lab-h', zone: 'cn-hangzhou-h', vpc: 'vpc-lab', cidr: '10.77.0.0/16' },
      { id: 'vsw-lab-k', zone: 'cn-hangzhou-k', vpc: 'vpc-lab', cidr: '10.78.0.0/16' },
    ],
    instances: [
      ...ids.map((id) => ({ id, zone: 'cn-hangzhou-h', vpc: 'vpc-lab', vswitch: 'vsw-lab-h', status: 'Running' as const })),
      { id: 'i-otherzone', zone: 'cn-hangzhou-k', vpc: 'vpc-lab', vswitch: 'vsw-lab-k', status: 'Running' as const },
    ],
    enis: [
      ...ids.map((id, n) => ({ id: `eni-primary${n + 1}`, type: 'Primary' as const, zone: 'cn-hangzhou-h', vpc: 'vpc-lab', vswitch: 'vsw-lab-h', privateIp: `10.77.1.${n + 1}`, status: 'InUse' as const, instanceId: id })),
      {
        id: 'eni-floating',
        type: 'Secondary' as const,
        zone: 'cn-hangzhou-h',
        vpc: 'vpc-lab',
        vswitch: 'vsw-lab-h',
        privateIp: o.floatingIp ?? '10.77.0.100',
        status: (o.eniOn ? 'InUse' : 'Available') as 'InUse' | 'Available',
        ...(o.eniOn ? { instanceId: o.eniOn } : {}),
      },
    ],
  };
}

const CHAIN_VARS = [
  'ALIBABA_CLOUD_ACCESS_KEY_ID',
  'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
  'ALIBABA_CLOUD_SECURITY_TOKEN',
  'ALIBABA_CLOUD_CREDENTIALS_URI',
  'ALIBABA_CLOUD_ECS_METADATA_DISABLED',
  'ALIBABA_CLOUD_CLI_PROFILE_DISABLED',
  'ALIBABA_CLOUD_CREDENTIALS_FILE',
  'ALIBABA_CLOUD_ROLE_ARN',
  'ALIBABA_CLOUD_OIDC_PROVIDER_ARN',
  'ALIBABA_CLOUD_OIDC_TOKEN_FILE',
];

let original: Map<string, string | undefined> | undefined;

/** Point the default credential chain at the emulator; returns a function restoring the environment as it was before the first call. */
export function useCredentials(emu: EcsEmulator, via: 'env' | 'uri', key = emu.keys[0]!): () => void {
  original ??= new Map(CHAIN_VARS.map((k) => [k, process.env[k]]));
  const saved = original;
  for (const k of CHAIN_VARS) delete process.env[k];
  process.env.ALIBABA_CLOUD_ECS_METADATA_DISABLED = 'true';
  process.env.ALIBABA_CLOUD_CLI_PROFILE_DISABLED = 'true';
  process.env.ALIBABA_CLOUD_CREDENTIALS_FILE = '/nonexistent/heir-test-credentials';
  if (via === 'env') {
    process.env.ALIBABA_CLOUD_ACCESS_KEY_ID = key.id;
    process.env.ALIBABA_CLOUD_ACCESS_KEY_SECRET = key.secret;
  } else {
    process.env.ALIBABA_CLOUD_CREDENTIALS_URI = emu.credentialsUri;
  }
  return () => {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/** heir.cloud settings for the emulator (TLS verified against its CA). */
export function cloudFor(emu: EcsEmulator, over: Record<string, unknown> = {}) {
  return {
    region_id: emu.regionId,
    endpoint: emu.endpoint,
    protocol: emu.protocol,
    connect_timeout_ms: 2000,
    read_timeout_ms: 3000,
    operation_timeout_s: 20,
    ...(emu.caFile ? { ca_file: emu.caFile } : {}),
    ...over,
  };
}

/**
 * The environment for a heir child process (daemon, CLI) that takes its cloud credentials from
 * the emulator's AccessKey, with every other source of the default chain turned off.
 */
export function credentialEnv(emu: EcsEmulator, key = emu.keys[0]!): NodeJS.ProcessEnv {
  return {
    ALIBABA_CLOUD_ACCESS_KEY_ID: key.id,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: key.secret,
    ALIBABA_CLOUD_ECS_METADATA_DISABLED: 'true',
    ALIBABA_CLOUD_CLI_PROFILE_DISABLED: 'true',
    ALIBABA_CLOUD_CREDENTIALS_FILE: '/nonexistent/heir-test-credentials',
  };
}

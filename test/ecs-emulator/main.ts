/**
 * Run the ECS API emulator on its own (sandbox, docker-compose):
 *
 *   node dist/test/ecs-emulator/main.js --state state.json [--port 8443] [--control-port 8444]
 *        [--host 127.0.0.1] [--protocol https|http] [--tls-dir DIR] [--tls-name NAME ...]
 *        [--attach-ms 2000] [--detach-ms 2000]
 *
 * state.json: { "region": "cn-hangzhou", "keys": [{ "id": "...", "secret": "..." }],
 *               "instances": [...], "enis": [...], "delays": { ... } }   (see state.ts)
 * Prints one JSON line with endpoint, caFile, controlUrl and credentialsUri, then
 * serves until SIGINT/SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { startEcsEmulator, type AccessKey } from './server';
import type { StateSnapshot } from './state';

function parseArgs(argv: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const [k, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
    const v = inline ?? argv[++i];
    if (v === undefined) throw new Error(`--${k} needs a value`);
    (out[k] ??= []).push(v);
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const one = (k: string) => args[k]?.[args[k]!.length - 1];
  const statePath = one('state');
  if (!statePath) throw new Error('--state FILE is required (JSON: region, keys, instances, enis)');
  const file = JSON.parse(readFileSync(statePath, 'utf8')) as StateSnapshot & { keys?: AccessKey[] };
  const delays = { ...(file.delays ?? {}) };
  if (one('attach-ms')) delays.attachMs = Number(one('attach-ms'));
  if (one('detach-ms')) delays.detachMs = Number(one('detach-ms'));
  const protocol = (one('protocol') ?? 'https') as 'https' | 'http';
  if (protocol !== 'https' && protocol !== 'http') throw new Error('--protocol is https or http');
  const emu = await startEcsEmulator({
    state: { region: file.region, instances: file.instances, enis: file.enis, delays },
    keys: file.keys,
    protocol,
    host: one('host') ?? '127.0.0.1',
    port: Number(one('port') ?? 0),
    controlPort: Number(one('control-port') ?? 0),
    tlsDir: one('tls-dir'),
    tlsNames: args['tls-name'],
  });
  process.stdout.write(
    `${JSON.stringify({ endpoint: emu.endpoint, protocol: emu.protocol, regionId: emu.regionId, caFile: emu.caFile ?? null, controlUrl: emu.controlUrl, credentialsUri: emu.credentialsUri })}\n`,
  );
  const stop = () => void emu.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err) => {
  process.stderr.write(`ecs-emulator: ${(err as Error).message}\n`);
  process.exit(2);
});

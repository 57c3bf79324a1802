/**
 * The application's address on a loopback lab: an ENI in the ECS API emulator, and one
 * listening loopback port that stands for its floating IP.
 *
 * A loopback lab has one host for every node, so no ENI can really move. The forwarder
 * plays the network instead: a new connection to its port is forwarded to the MySQL port of
 * the node whose instance the emulator says the ENI is attached to (status InUse), and reset
 * while it is attached nowhere (Available, Attaching, Detaching). Connections already
 * forwarded to a node the ENI has left are cut, as a detached interface cuts them. It reads
 * the emulator's own state (the region heir changes through the ECS API), never heir's view.
 */
import * as net from 'node:net';
import type { EcsEmulator } from '../ecs-emulator/server';

export interface AddressNode {
  name: string;
  host: string;
  port: number;
}

export interface EniForwarder {
  /** Where the application connects: the forwarder's listening address. */
  host: string;
  port: number;
  eniId: string;
  /** The ENI's private IP in the emulator (address.floating_ip in heir's configuration). */
  floatingIp: string;
  /** Instance id of each node, by node name (nodes[].instance_id in heir's configuration). */
  instanceIds: Record<string, string>;
  /** The node holding the address now (ENI InUse on its instance); an instance no node has is named by its id. */
  holders(): Promise<string[]>;
  /** Connections forwarded so far, by node. */
  forwarded: Record<string, number>;
  close(): Promise<void>;
}

const ZONE = { zone: 'cn-hangzhou-h', vpc: 'vpc-lab', vswitch: 'vsw-lab-h' };
let serial = 0;

/**
 * Adds one instance per node and a secondary ENI attached to `on`'s instance to the
 * emulator's region (fresh ids, so that cases sharing one emulator never share an ENI),
 * and starts the forwarder for it.
 */
export async function startEniForwarder(emu: EcsEmulator, nodes: AddressNode[], on: string): Promise<EniForwarder> {
  const tag = `lo${process.pid}x${++serial}`;
  const instanceIds = Object.fromEntries(nodes.map((n) => [n.name, `i-${tag}${n.name}`]));
  for (const n of nodes) emu.control({ op: 'setInstance', instance: { id: instanceIds[n.name]!, ...ZONE, status: 'Running' } });
  const eniId = `eni-${tag}`;
  const floatingIp = `10.77.${serial % 250}.100`;
  if (!instanceIds[on]) throw new Error(`eni forwarder: no node named ${on}`);
  emu.control({ op: 'setEni', eni: { id: eniId, type: 'Secondary', ...ZONE, privateIp: floatingIp, status: 'InUse', instanceId: instanceIds[on] } });

  const byInstance = new Map(nodes.map((n) => [instanceIds[n.name]!, n]));
  /** The node the ENI is attached to, per the emulator; undefined while attached nowhere. */
  const target = (): AddressNode | string | undefined => {
    const eni = emu.state.enis.get(eniId);
    if (!eni || eni.status !== 'InUse' || !eni.instanceId) return undefined;
    return byInstance.get(eni.instanceId) ?? eni.instanceId;
  };

  const forwarded: Record<string, number> = {};
  const open = new Set<{ node: string; client: net.Socket; upstream: net.Socket }>();
  const server = net.createServer((client) => {
    const t = target();
    if (!t || typeof t === 'string') {
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
    forwarded[t.name] = (forwarded[t.name] ?? 0) + 1;
    const upstream = net.connect(t.port, t.host);
    const pair = { node: t.name, client, upstream };
    open.add(pair);
    const end = () => {
      open.delete(pair);
      if (!client.destroyed) client.resetAndDestroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  // The ENI leaving a node cuts what was forwarded to it (checked every 20 ms).
  const watch = setInterval(() => {
    const t = target();
    const holder = t && typeof t !== 'string' ? t.name : undefined;
    for (const p of open) {
      if (p.node === holder) continue;
      open.delete(p);
      p.client.resetAndDestroy();
      p.upstream.destroy();
    }
  }, 20);
  watch.unref();
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });

  return {
    host: '127.0.0.1',
    port,
    eniId,
    floatingIp,
    instanceIds,
    forwarded,
    async holders() {
      const t = target();
      return t === undefined ? [] : [typeof t === 'string' ? t : t.name];
    },
    async close() {
      clearInterval(watch);
      for (const p of open) {
        p.client.destroy();
        p.upstream.destroy();
      }
      open.clear();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

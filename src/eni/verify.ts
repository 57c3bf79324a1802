/**
 * After a move: does a MySQL connection to the floating address reach the new
 * master? Compares the server identity seen through the address with the one
 * seen directly (@@server_id and @@server_uuid on MySQL; @@server_id and
 * @@hostname on MariaDB, which has no server_uuid).
 */
import type { ClusterConfig, NodeConfig } from '../config/schema';
import { connOptions, withConn, type Conn } from '../mysql/conn';
import { sleep, type Deadline } from './retry';

export interface ServerIdentity {
  serverId: string;
  uuid?: string;
  hostname?: string;
}

async function identityOf(c: Conn): Promise<ServerIdentity> {
  if (c.version.flavor === 'mariadb') {
    const [r] = await c.query<{ id: unknown; h: unknown }>('SELECT @@server_id AS id, @@hostname AS h');
    return { serverId: String(r?.id), hostname: String(r?.h) };
  }
  const [r] = await c.query<{ id: unknown; u: unknown; h: unknown }>('SELECT @@server_id AS id, @@server_uuid AS u, @@hostname AS h');
  return { serverId: String(r?.id), uuid: String(r?.u), hostname: String(r?.h) };
}

function same(a: ServerIdentity, b: ServerIdentity): boolean {
  if (a.serverId !== b.serverId) return false;
  if (a.uuid && b.uuid) return a.uuid === b.uuid;
  return a.hostname === b.hostname;
}

function show(i: ServerIdentity): string {
  return `server_id ${i.serverId}${i.uuid ? `, server_uuid ${i.uuid}` : ''}${i.hostname ? `, hostname ${i.hostname}` : ''}`;
}

/**
 * Retry until the address answers as the new master, or the deadline passes
 * (the neighbour caches and the guest's interface may take a moment). With `ready`, the
 * new master is read directly at once and the address tried once `ready` resolves (the
 * address brought up meanwhile); a rejected `ready` rejects the check.
 */
export async function verifyAddress(
  cluster: ClusterConfig,
  newMaster: NodeConfig,
  floatingIp: string,
  deadline: Deadline,
  signal?: AbortSignal,
  ready?: Promise<unknown>,
): Promise<{ ok: boolean; detail: string }> {
  const timeoutMs = Math.min(cluster.mysql.connect_timeout_ms, 5000);
  let expected: ServerIdentity;
  try {
    expected = await withConn(connOptions(cluster, newMaster, { timeoutMs }), identityOf);
  } catch (err) {
    await ready;
    return { ok: false, detail: `cannot read the new master ${newMaster.name} (${newMaster.host}:${newMaster.port}) directly to compare: ${(err as Error).message}` };
  }
  await ready;
  const viaNode: NodeConfig = { ...newMaster, name: `${newMaster.name} via ${floatingIp}`, host: floatingIp };
  let last = 'no attempt';
  for (let attempt = 0; ; attempt++) {
    try {
      const seen = await withConn(connOptions(cluster, viaNode, { timeoutMs }), identityOf);
      if (same(seen, expected)) return { ok: true, detail: `${floatingIp}:${newMaster.port} reaches ${newMaster.name} (${show(seen)})` };
      last = `${floatingIp}:${newMaster.port} reaches a different server (${show(seen)}), expected ${newMaster.name} (${show(expected)})`;
    } catch (err) {
      last = `${floatingIp}:${newMaster.port} does not answer: ${(err as Error).message}`;
    }
    if (deadline.remaining() < 300) break;
    // The address usually answers within moments of InUse: retry quickly at first.
    await sleep(Math.min(attempt < 20 ? 100 : 500 * (attempt - 19), 2000, deadline.remaining()), signal);
  }
  return { ok: false, detail: last };
}

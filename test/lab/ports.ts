/**
 * Listening ports for what the tests start (servers, etcd members, daemons' APIs, webhook
 * receivers). A port the kernel hands out for `listen(0)` comes from the ephemeral range,
 * the same range every outgoing connection takes its source port from: between closing the
 * probe socket and the server binding it, an etcd peer link or a client could take it, and
 * the server then exits with "address already in use". So ports are drawn from below the
 * ephemeral range (read from /proc), are checked free on 127.0.0.1, and are never handed
 * out twice by one test process.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';

const given = new Set<number>();

/** The lowest port of the kernel's ephemeral range (32768 when it cannot be read). */
function ephemeralLow(): number {
  try {
    const [low] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && Number.isInteger(low) && low > 2048) return low;
  } catch {
    /* not Linux or no /proc: the usual default */
  }
  return 32768;
}

function bindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.unref();
    s.once('error', () => resolve(false));
    s.listen({ port, host, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/**
 * A port nothing listens on, outside the ephemeral range, not given before in this process.
 * Ports are drawn at random (test files run one after another, each its own process, so a
 * random draw keeps two files from reusing one port while the first one's server still exits).
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const high = ephemeralLow() - 1;
  const low = Math.max(10_000, high - 20_000);
  for (let i = 0; i < 200; i++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (given.has(port)) continue;
    given.add(port);
    if (await bindable(port, host)) return port;
  }
  throw new Error(`no free port between ${low} and ${high} on ${host} after 200 tries`);
}

/**
 * The loopback address the failover suite writes through (test/support/eni-forwarder.ts),
 * against the ECS API emulator's state: it reaches the node the ENI is InUse on, refuses
 * while the ENI is attached nowhere, and cuts connections to a node the ENI left. Two
 * plain TCP servers stand for the nodes' MySQL ports; each names itself to a new client.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { startEcsEmulator, type EcsEmulator } from '../ecs-emulator/server';
import { labRegion } from '../ecs-emulator/fixture';
import { startEniForwarder, type EniForwarder } from '../support/eni-forwarder';

let emu: EcsEmulator;
let fwd: EniForwarder;
const servers: net.Server[] = [];
const nodes: { name: string; host: string; port: number }[] = [];

before(async () => {
  emu = await startEcsEmulator({ state: { ...labRegion(), delays: { ...labRegion().delays, attachMs: 200, detachMs: 200 } }, protocol: 'http' });
  for (const name of ['db1', 'db2']) {
    const s = net.createServer((c) => {
      c.on('error', () => undefined);
      c.write(`${name}\n`);
    });
    servers.push(s);
    const port = await new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as net.AddressInfo).port)));
    nodes.push({ name, host: '127.0.0.1', port });
  }
  fwd = await startEniForwarder(emu, nodes, 'db1');
});
after(async () => {
  await fwd.close();
  for (const s of servers) await new Promise((r) => s.close(r));
  await emu.close();
});

/** Connects through the address: the name of the node reached, or 'refused'; the socket stays open. */
function reach(): Promise<{ who: string; sock: net.Socket; closed: Promise<void> }> {
  return new Promise((resolve) => {
    const sock = net.connect(fwd.port, fwd.host);
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.on('error', () => undefined);
    sock.once('data', (d) => resolve({ who: String(d).trim(), sock, closed }));
    sock.once('close', () => resolve({ who: 'refused', sock, closed }));
  });
}

const eni = () => emu.state.enis.get(fwd.eniId)!;

test('the address follows the ENI as the emulator has it: InUse on db1, nowhere while it moves, then db2', async () => {
  assert.deepEqual(await fwd.holders(), ['db1']);
  const first = await reach();
  assert.equal(first.who, 'db1');

  emu.state.detach(fwd.eniId, fwd.instanceIds.db1!);
  assert.equal(eni().status, 'Detaching');
  const cut = await Promise.race([first.closed.then(() => 'cut'), new Promise((r) => setTimeout(() => r('still open'), 1000))]);
  assert.equal(cut, 'cut', 'the connection to db1 ends once the ENI leaves db1');
  assert.deepEqual(await fwd.holders(), []);
  assert.equal((await reach()).who, 'refused', 'Detaching: refused');

  await emu.waitFor(() => eni().status === 'Available', 5000);
  assert.equal((await reach()).who, 'refused', 'Available: refused');
  emu.state.attach(fwd.eniId, fwd.instanceIds.db2!);
  assert.equal(eni().status, 'Attaching');
  assert.equal((await reach()).who, 'refused', 'Attaching: refused');
  await emu.waitFor(() => eni().status === 'InUse', 5000);
  assert.deepEqual(await fwd.holders(), ['db2']);
  const second = await reach();
  assert.equal(second.who, 'db2');
  second.sock.destroy();
  assert.equal(fwd.forwarded.db1, 1);
  assert.equal(fwd.forwarded.db2, 1);
});

test('an ENI on an instance that is no node: named by its instance id, connections refused', async () => {
  emu.control({ op: 'setEni', eni: { id: fwd.eniId, status: 'InUse', instanceId: 'i-db3' } });
  assert.deepEqual(await fwd.holders(), ['i-db3']);
  assert.equal((await reach()).who, 'refused');
});

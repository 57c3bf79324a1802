/**
 * The etcd lab: three members on loopback come up, answer the etcd3 client (v3 gRPC API of
 * etcd 3.4), keep quorum with one member killed, lose it with two paused, get it back, and
 * leave no process behind.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { Etcd3 } from 'etcd3';
import { startEtcdLab, EtcdLab } from '../lab/etcd';

function alive(pid: number): boolean {
  try { process.kill(pid, 0); } catch { return false; }
  try { return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8')); } catch { return false; }
}

/** A put bounded by a gRPC deadline: etcd without quorum would hold it for its own request timeout. */
function put(c: Etcd3, key: string, value: string, ms = 1500) {
  return c.put(key).value(value).options({ deadline: Date.now() + ms }).exec();
}

/** put, retried with a fresh deadline until it succeeds or timeoutMs passed (a member killed may have been etcd's leader: an election follows). */
async function putEventually(c: Etcd3, key: string, value: string, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await put(c, key, value);
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describe('etcd lab (3 members on loopback)', () => {
  let lab: EtcdLab;
  let client: Etcd3;
  before(async () => {
    lab = await startEtcdLab();
    client = new Etcd3({ hosts: lab.endpoints, dialTimeout: 1000 });
  });
  after(async () => {
    client?.close();
    await lab?.stop();
  });

  it('answers the etcd3 client: put/get, a txn comparing a create revision, an election on a lease', async () => {
    await put(client, 'k', 'v1');
    assert.equal(await client.get('k').string(), 'v1');
    const created = (await client.get('k').exec()).kvs[0].create_revision;
    const ok = await client.if('k', 'Create', '==', created).then(client.put('k').value('v2')).commit();
    assert.equal(ok.succeeded, true);
    const stale = await client.if('k', 'Create', '==', '1').then(client.put('k').value('v3')).commit();
    assert.equal(stale.succeeded, false);
    assert.equal(await client.get('k').string(), 'v2');

    const election = client.election('lab-test', 2);
    const campaign = election.campaign('me');
    await campaign.wait();
    assert.equal(await election.leader(), 'me');
    const key = await campaign.getCampaignKey();
    assert.ok((await client.get(key).exec()).kvs[0].lease !== '0', 'the leadership key is bound to a lease');
    await campaign.resign();
    assert.equal(await election.leader(), undefined);
  });

  it('keeps quorum with one member killed, and takes it back', async () => {
    await lab.kill(2);
    assert.equal(alive(lab.members[2].proc!.pid), false);
    await putEventually(client, 'one-down', 'yes');
    assert.equal(await client.get('one-down').string(), 'yes');
    await lab.restart(2);
    assert.equal(lab.healthy(), true);
  });

  it('refuses writes without quorum (two members paused) and accepts them once resumed', async () => {
    lab.pause(1);
    lab.pause(2);
    try {
      await assert.rejects(put(client, 'no-quorum', 'x', 1500));
    } finally {
      lab.resume(1);
      lab.resume(2);
    }
    await putEventually(client, 'quorum-back', 'y');
    assert.equal(await client.get('quorum-back').string(), 'y');
  });

  it('stops every member by pid', async () => {
    const pids = lab.members.map((m) => m.proc!.pid);
    await lab.stop();
    for (const pid of pids) assert.equal(alive(pid), false, `etcd pid ${pid} still runs`);
  });
});

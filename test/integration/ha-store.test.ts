/**
 * The failover state in etcd: the FailoverStore contract the local-disk store keeps, on a real
 * three-member etcd; only the leader records; a lock taken under an ended leadership is stale
 * and taken over by the next leader, who also sees the journal left unfinished.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEtcdLab, EtcdLab } from '../lab/etcd';
import { HaSession } from '../../src/ha/leadership';
import { EtcdFailoverStore } from '../../src/ha/etcd-store';
import { NotLeaderError } from '../../src/ha/etcd';
import { HaSettings } from '../../src/config/schema';
import { storeContract } from '../support/store-contract';

const settings = (lab: EtcdLab, manager: string) =>
  HaSettings.parse({ etcd: { endpoints: lab.endpoints, request_timeout_ms: 2000 }, manager_id: manager, lease_ttl_s: 2, prefix: '/heir-store/' });

describe('EtcdFailoverStore (3 etcd members on loopback)', () => {
  let lab: EtcdLab;
  let a: HaSession;
  let n = 0;
  before(async () => {
    lab = await startEtcdLab();
    a = new HaSession(settings(lab, 'mgr-a'));
  });
  after(async () => {
    await a?.close();
    await lab?.stop();
  });

  storeContract('etcd', async () => {
    const cluster = `c${++n}`;
    await a.leadership(cluster).waitElected(15000);
    return { store: new EtcdFailoverStore(a), cluster };
  });

  it('a follower records nothing; the next leader takes over the stale lock and sees the unfinished journal', async () => {
    const b = new HaSession(settings(lab, 'mgr-b'));
    try {
      await a.leadership('handover').waitElected(15000);
      const sa = new EtcdFailoverStore(a);
      const sb = new EtcdFailoverStore(b);
      b.leadership('handover');
      await new Promise<void>((r) => b.leadership('handover').once('leader', () => r()));
      await assert.rejects(sb.beginJournal('handover', 'failover', {}), (e: Error) => e instanceof NotLeaderError && /mgr-b is not the leader of cluster handover \(mgr-a is\)/.test(e.message));
      await assert.rejects(sb.acquireLock('handover', 'failover'), NotLeaderError);

      await sa.acquireLock('handover', 'failover', 'db1 dead, auto');
      const j = await sa.beginJournal('handover', 'failover', { deadMaster: 'db1' });
      await j.stepStart('promote', { node: 'db2' });
      await a.drop('handover'); // the leader goes (its lease revoked), its lock and journal stay

      await b.leadership('handover').waitElected(15000);
      const peek = await sb.peekLock('handover');
      assert.equal(peek.stale, true);
      assert.match(peek.text!, /manager mgr-a\) \(stale: its leadership ended\)/);
      const open = await sb.unfinishedJournals('handover');
      assert.deepEqual(open.map((x) => [x.id, x.steps.map((s) => [s.step, s.outcome])]), [[j.id, [['promote', 'running']]]]);
      const lock = await sb.acquireLock('handover', 'failover');
      assert.equal((lock.tookOverFrom as { manager?: string } | undefined)?.manager, 'mgr-a');
      await lock.release();
      assert.equal((await sb.peekLock('handover')).free, true);
    } finally {
      await b.close();
    }
  });
});

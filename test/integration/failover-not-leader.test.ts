/**
 * A failover whose manager stops leading halfway (FailoverRequest.beforeMutation refuses, as
 * the fenced check does once the etcd lease is lost), on a real 3-node MariaDB lab: the
 * refused step does not run, no later step runs, and nothing is undone either — the IO
 * threads the freeze stopped stay stopped for the manager that leads now.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { ClusterConfig } from '../../src/config/schema';
import { runFailover } from '../../src/failover/execute';
import { listJournals } from '../../src/failover/journal';
import { readChannels } from '../../src/mysql/inspect';
import { startCluster, type LabCluster } from '../lab';
import { globalSettings, open, tempStateDir } from './failover-helpers';

let lab: LabCluster | undefined;
const stateDir = tempStateDir();

after(async () => {
  await lab?.teardown();
  fs.rmSync(stateDir, { recursive: true, force: true });
});

test('leadership lost before reread: reread refused, nothing after it, nothing undone', async () => {
  lab = await startCluster({ flavor: 'mariadb', nodes: 3, name: 'fo-lead' });
  const cfg = lab.clusterConfig({ failover: { salvage: { enabled: false } } as ClusterConfig['failover'] });
  await lab.kill('db1');
  const checked: string[] = [];
  const r = await runFailover({
    cluster: cfg,
    global: globalSettings(stateDir),
    deadMaster: 'db1',
    trigger: 'auto',
    beforeMutation: async (what) => {
      checked.push(what);
      if (/^step reread /.test(what)) throw new Error('not the leader of cluster fo-lead (its leadership key expired in etcd): step reread not recorded and not performed');
    },
  });
  assert.equal(r.outcome, 'failed', r.summary);
  assert.equal(r.newMaster, null);
  assert.deepEqual(
    r.steps.map((s) => [s.name, s.outcome]),
    [
      ['fence', 'skipped'],
      ['fence-address', 'ok'],
      ['freeze', 'ok'],
      ['reread', 'failed'],
    ],
    JSON.stringify(r.steps, null, 1),
  );
  assert.match(r.steps[3]!.error!, /its leadership key expired in etcd/);
  assert.deepEqual(checked.map((w) => w.split(' ')[1]).sort(), ['fence', 'fence-address', 'freeze', 'reread'], 'checked before each step, none after the refusal');
  assert.ok(r.undone.some((u) => /^nothing undone: not the leader/.test(u)), r.undone.join('\n'));
  assert.ok(!r.undone.some((u) => /replication restarted/.test(u)), r.undone.join('\n'));
  for (const n of ['db2', 'db3']) {
    const c = await open(cfg, n);
    try {
      const chs = await readChannels(c);
      assert.equal(chs[0]!.ioState, 'No', `${n}: the IO thread the freeze stopped stays stopped`);
    } finally {
      await c.close();
    }
  }
  const [j] = listJournals(stateDir, cfg.name);
  assert.ok(j!.notes.some((x) => /^nothing undone: not the leader/.test(x)), j!.notes.join('\n'));
  assert.equal(j!.steps.find((s) => s.step === 'reread')?.outcome, 'failed');
});

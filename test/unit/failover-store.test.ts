/** The local-disk store keeps the FailoverStore contract, on the very files heir has always written. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalDiskStore } from '../../src/failover/store';
import { lockPath } from '../../src/failover/lock';
import { statePath } from '../../src/failover/guard';
import { storeContract } from '../support/store-contract';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-store-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;

describe('LocalDiskStore', () => {
  storeContract('local disk', async () => ({ store: new LocalDiskStore(dir), cluster: `c${++n}` }));

  it('writes the state_dir files of journal.ts, lock.ts and guard.ts', async () => {
    const store = new LocalDiskStore(dir);
    assert.equal(store.where, `state_dir ${dir}`);
    const lock = await store.acquireLock('files', 'failover');
    assert.ok(fs.existsSync(lockPath(dir, 'files')));
    const j = await store.beginJournal('files', 'failover', {});
    await j.end('success', 'done');
    assert.ok(fs.existsSync(path.join(dir, 'files', `failover-${j.id}.journal.jsonl`)));
    await store.recordAutoFailover('files', { id: j.id, at: new Date().toISOString(), oldMaster: 'a', newMaster: 'b', outcome: 'success' });
    assert.ok(fs.existsSync(statePath(dir, 'files')));
    await lock.release();
    assert.equal(fs.existsSync(lockPath(dir, 'files')), false);
  });
});

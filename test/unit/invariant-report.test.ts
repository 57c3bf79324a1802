/**
 * The invariant's check of a failover report's figures against the rows the servers hold
 * (pure part): new master, salvaged count, and what is missing within what may be lost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reportViolations } from '../support/invariant';

test("a report's figures against the servers: new master, salvaged count, missing within possibly lost", () => {
  const only = [101, 102, 103, 104];
  assert.deepEqual(reportViolations('db2', { newMaster: 'db2', salvage: { count: 4 }, possiblyLost: [] }, only, new Set([1, 101, 102, 103, 104])), []);
  assert.deepEqual(reportViolations('db2', { newMaster: 'db3' }, undefined, undefined), ['the report names db3 the new master, the servers db2']);
  // Salvage said 4 but only 3 arrived, and the one missing was not declared.
  assert.deepEqual(reportViolations('db2', { salvage: { count: 4 }, possiblyLost: [] }, only, new Set([101, 102, 103])), [
    'the report says 4 transaction(s) salvaged; db2 holds 3 of the 4 only the dead master had',
    '1 of the 4 ids only the dead master had are not on db2; the report says 0 may be lost',
  ]);
  // Two missing, declared: fine; an unknown count covers any number.
  assert.deepEqual(reportViolations('db2', { salvage: { count: 2 }, possiblyLost: [{ count: 2 }] }, only, new Set([101, 102])), []);
  assert.deepEqual(reportViolations('db2', { salvage: { count: 0 }, possiblyLost: [{ count: null }] }, only, new Set()), []);
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pollDelayMs } from '../../src/eni/retry';

/** Describe calls a transition of `ms` costs on the schedule (one at the start, one per wait). */
function callsFor(ms: number, fastMs = 150): number {
  let t = 0;
  let calls = 1;
  while (t < ms) {
    t += pollDelayMs(t, fastMs);
    calls++;
  }
  return calls;
}

describe('ENI poll schedule', () => {
  it('polls every 150 ms in the first 5 s, then every 500 ms to 15 s, then every second', () => {
    assert.equal(pollDelayMs(0), 150);
    assert.equal(pollDelayMs(4999), 150);
    assert.equal(pollDelayMs(5000), 500);
    assert.equal(pollDelayMs(14999), 500);
    assert.equal(pollDelayMs(15000), 1000);
    assert.equal(pollDelayMs(0, 100), 100);
    assert.equal(pollDelayMs(6000, 800), 800);
  });
  it('a 2 s transition is seen within 150 ms for 15 Describe calls; a 60 s one costs at most 100', () => {
    assert.equal(callsFor(2000), 15);
    assert.ok(callsFor(60_000) <= 100, String(callsFor(60_000)));
  });
});

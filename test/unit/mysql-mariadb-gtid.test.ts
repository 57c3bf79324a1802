import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { errantFromBinlogStates, MariaGtidPos, MariaGtidParseError, parseGtidList } from '../../src/mysql/mariadb-gtid';

const p = MariaGtidPos.parse;

describe('MariaGtidPos', () => {
  it('parses and prints sorted by domain', () => {
    const x = p(' 1-2-30 ,\n0-1-18446744073709551615');
    assert.equal(x.toString(), '0-1-18446744073709551615,1-2-30');
    assert.deepEqual(x.domains(), [0, 1]);
    assert.deepEqual(x.get(0), { server: 1, seq: 18446744073709551615n });
    assert.equal(x.get(5), undefined);
    assert.equal(p('').isEmpty(), true);
    assert.equal(p('').toString(), '');
  });

  it('rejects malformed input naming the part', () => {
    assert.throws(() => p('0-1-5,0-2-6'), (e: unknown) => e instanceof MariaGtidParseError && /domain 0 appears twice/.test(e.message));
    assert.throws(() => p('0-1'), /'0-1' is not domain-server-seq/);
    assert.throws(() => p('0-1-5,,1-1-1'), /'' is not domain-server-seq/);
    assert.throws(() => p('4294967296-1-1'), /out of range/);
    assert.throws(() => p('0-1-18446744073709551616'), /out of range/);
    assert.throws(() => p('a-b-c'), /'a-b-c'/);
  });

  it('contains: every domain of o at >= seq', () => {
    assert.equal(p('0-1-10,1-1-5').contains(p('0-2-10')), true);
    assert.equal(p('0-1-10').contains(p('0-1-11')), false);
    assert.equal(p('0-1-10').contains(p('1-1-1')), false);
    assert.equal(p('0-1-10').contains(p('')), true);
  });

  it('max is per domain', () => {
    assert.equal(p('0-1-10,1-1-5').max(p('0-2-12,2-3-1')).toString(), '0-2-12,1-1-5,2-3-1');
    assert.equal(p('0-1-10').max(p('0-2-10')).toString(), '0-1-10');
  });

  it('equals compares server too', () => {
    assert.equal(p('1-1-1,0-1-2').equals(p('0-1-2,1-1-1')), true);
    assert.equal(p('0-1-2').equals(p('0-2-2')), false);
    assert.equal(p('0-1-2').equals(p('0-1-2,1-1-1')), false);
  });

  it('a domain at seq 0 holds nothing: contained by a position without that domain', () => {
    assert.equal(p('').contains(p('0-1-0')), true);
    assert.deepEqual(p('').behind(p('0-1-0')), []);
    assert.equal(p('1-1-5').contains(p('0-1-0,1-1-5')), true);
    assert.equal(p('').contains(p('0-1-1')), false);
  });

  it('behind lists what o has beyond this', () => {
    assert.deepEqual(p('0-1-10,1-1-5').behind(p('0-1-12,1-1-5,2-3-4')), [
      { domain: 0, from: 10n, to: 12n },
      { domain: 2, from: 0n, to: 4n },
    ]);
    assert.deepEqual(p('0-1-12').behind(p('0-1-10')), []);
    assert.equal(p('0-1-10').distance(p('0-1-12,2-3-4')), 6n);
  });
});

const entryArb = fc.record({
  domain: fc.integer({ min: 0, max: 5 }),
  server: fc.integer({ min: 1, max: 4 }),
  seq: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
});
const posArb = fc.uniqueArray(entryArb, { selector: (e) => e.domain, maxLength: 5 }).map((es) => MariaGtidPos.of(es));

describe('MariaGtidPos properties', () => {
  it('parse(toString(x)) equals x', () => {
    fc.assert(fc.property(posArb, (x) => assert.ok(p(x.toString()).equals(x))));
  });
  it('max contains both; contains is reflexive; behind empty iff contains', () => {
    fc.assert(
      fc.property(posArb, posArb, (a, b) => {
        const m = a.max(b);
        assert.ok(m.contains(a) && m.contains(b));
        assert.ok(a.contains(a));
        assert.equal(a.behind(b).length === 0, a.contains(b));
        assert.ok(m.max(a).equals(m));
      }),
    );
  });
});

describe('gtid_binlog_state: errant transactions', () => {
  const L = (t: string) => parseGtidList(t)!;
  it('parses a list with several entries per domain', () => {
    assert.deepEqual(L('0-1-9,0-2-5'), [
      { domain: 0, server: 1, seq: 9n },
      { domain: 0, server: 2, seq: 5n },
    ]);
    assert.deepEqual(L(''), []);
    assert.equal(parseGtidList('0-1'), undefined);
  });
  it('a local write followed by replicated ones: gone from the position, errant in the state', () => {
    // db2 (server 2) wrote 0-2-5, then replicated 0-1-5..9 from the master (server 1).
    assert.deepEqual(errantFromBinlogStates(L('0-1-9,0-2-5'), 2, [L('0-1-9')]), [{ domain: 0, server: 2, seq: 5n }]);
  });
  it('the same seq as the master from another server is errant', () => {
    assert.deepEqual(errantFromBinlogStates(L('0-1-99,0-2-100'), 2, [L('0-1-100')]).map((e) => e.seq), [100n]);
  });
  it("a former master's writes are in the others' binlog states: not errant; only the node's own server_id counts", () => {
    assert.deepEqual(errantFromBinlogStates(L('0-1-20,0-2-10'), 2, [L('0-1-20,0-2-10')]), []);
    assert.deepEqual(errantFromBinlogStates(L('0-1-20,0-2-12'), 2, [L('0-1-20'), L('0-2-12')]), []);
    assert.deepEqual(errantFromBinlogStates(L('0-3-7'), 2, [L('0-1-20')]), []);
    assert.deepEqual(errantFromBinlogStates(L('0-2-12'), 2, [L('0-2-10')]).map((e) => `${e.domain}-${e.server}-${e.seq}`), ['0-2-12']);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GtidSet, GtidParseError, MAX_GNO } from '../../src/mysql/gtid';

const U1 = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const U2 = '8a94f357-aab4-11df-86ab-c80aa9429562';
const U3 = 'ffffffff-0000-1111-2222-333333333333';

const p = GtidSet.parse;

describe('GtidSet.parse / toString', () => {
  it('empty text is the empty set', () => {
    assert.equal(p('').isEmpty(), true);
    assert.equal(p('  \n ').toString(), '');
    assert.equal(GtidSet.empty().count(), 0n);
  });

  it('normalizes case, order, whitespace and merges intervals', () => {
    const s = p(`${U2.toUpperCase()}:5-7:1-3,\n  ${U1}:10:4-9:11`);
    assert.equal(s.toString(), `${U1}:4-11,${U2}:1-3:5-7`);
  });

  it('merges adjacent and overlapping intervals, also across elements', () => {
    assert.equal(p(`${U1}:1-3:4-5`).toString(), `${U1}:1-5`);
    assert.equal(p(`${U1}:1-10,${U1}:5-20:22`).toString(), `${U1}:1-20:22`);
    assert.equal(p(`${U1}:7:7:7`).toString(), `${U1}:7`);
  });

  it('reads MySQL output with newlines after commas', () => {
    const text = `${U1}:1-100,\n${U2}:1-5`;
    assert.equal(p(text).count(), 105n);
  });

  it('accepts tagged GTIDs (8.4+) and orders untagged first, then tags', () => {
    const s = p(`${U1}:Zeta:3, ${U1}:alpha:1-5:7, ${U1}:1-2`);
    assert.equal(s.toString(), `${U1}:1-2:alpha:1-5:7:zeta:3`);
    assert.equal(s.count(), 2n + 6n + 1n);
    assert.equal(p(s.toString()).equals(s), true);
    // tagged and untagged numbers are different transactions
    assert.equal(p(`${U1}:1-5`).contains(p(`${U1}:tag:1`)), false);
    assert.deepEqual(s.intervals(U1, 'ALPHA'), [
      [1n, 5n],
      [7n, 7n],
    ]);
  });

  it('accepts UUIDs without dashes', () => {
    assert.equal(p(`${U1.replace(/-/g, '')}:1`).toString(), `${U1}:1`);
  });

  it('handles the largest transaction numbers as bigint', () => {
    const s = p(`${U1}:1-${MAX_GNO}`);
    assert.equal(s.count(), MAX_GNO);
    assert.equal(s.toString(), `${U1}:1-9223372036854775807`);
    assert.throws(() => p(`${U1}:9223372036854775808`), /outside 1\.\.9223372036854775807/);
  });

  const bad: [string, RegExp][] = [
    [`${U1}:0`, /transaction number 0/],
    [`${U1}:5-3`, /'5-3'.*ends before it starts/],
    [`nonsense:1-5`, /'nonsense' .*not a server UUID/],
    [`${U1}:1-x`, /'x' .*not a transaction number/],
    [`${U1}:1-5,,${U2}:1`, /empty element/],
    [`${U1}::1`, /empty part/],
    [`${U1}:1-2-3`, /not a transaction number/],
    [`${U1}:ab-c:1`, /'ab-c' .*neither an interval nor a tag/],
    [`${U1}:${'a'.repeat(33)}:1`, /neither an interval nor a tag/],
  ];
  for (const [text, re] of bad) {
    it(`rejects ${JSON.stringify(text.slice(0, 60))} naming the part`, () => {
      assert.throws(
        () => p(text),
        (e: unknown) => e instanceof GtidParseError && re.test(e.message),
      );
    });
  }

  it('tryParse returns undefined on bad input', () => {
    assert.equal(GtidSet.tryParse('x:y'), undefined);
    assert.equal(GtidSet.tryParse(`${U1}:1`)?.count(), 1n);
  });
});

describe('GtidSet algebra (examples)', () => {
  const a = p(`${U1}:1-10,${U2}:1-5`);
  const b = p(`${U1}:5-15,${U3}:1`);

  it('union', () => assert.equal(a.union(b).toString(), `${U1}:1-15,${U2}:1-5,${U3}:1`));
  it('subtract', () => {
    assert.equal(a.subtract(b).toString(), `${U1}:1-4,${U2}:1-5`);
    assert.equal(p(`${U1}:1-20`).subtract(p(`${U1}:3-4:8:10-12`)).toString(), `${U1}:1-2:5-7:9:13-20`);
    assert.equal(p(`${U1}:1-3:5-9`).subtract(p(`${U1}:2-6`)).toString(), `${U1}:1:7-9`);
  });
  it('intersect', () => assert.equal(a.intersect(b).toString(), `${U1}:5-10`));
  it('contains', () => {
    assert.equal(a.contains(p(`${U1}:3-7`)), true);
    assert.equal(a.contains(p(`${U1}:3-11`)), false);
    assert.equal(a.contains(GtidSet.empty()), true);
    assert.equal(GtidSet.empty().contains(a), false);
  });
  it('equals ignores notation', () => {
    assert.equal(p(`${U1}:1-3:4`).equals(p(`${U1.toUpperCase()}:1-4`)), true);
    assert.equal(p(`${U1}:1-3`).equals(p(`${U1}:1-4`)), false);
  });
  it('count', () => assert.equal(a.count(), 15n));
  it('uuids and onlyUuid', () => {
    assert.deepEqual(a.union(b).uuids(), [U1, U2, U3]);
    assert.equal(a.onlyUuid(U1).toString(), `${U1}:1-10`);
    assert.equal(a.onlyUuid(U1, { exclude: true }).toString(), `${U2}:1-5`);
  });
});

// ---- properties on random sets ----

const uuidArb = fc.constantFrom(U1, U2, U3, '00000000-0000-0000-0000-000000000001');
const tagArb = fc.constantFrom('', '', 'alpha', 'b_2');
const gnoArb = fc.oneof(
  fc.bigInt({ min: 1n, max: 60n }),
  fc.bigInt({ min: MAX_GNO - 30n, max: MAX_GNO }),
);
const intervalArb = fc.tuple(gnoArb, gnoArb).map(([x, y]) => (x <= y ? [x, y] : [y, x]) as [bigint, bigint]);
const elementArb = fc
  .tuple(uuidArb, fc.boolean(), tagArb, fc.array(intervalArb, { minLength: 1, maxLength: 4 }))
  .map(([u, upper, t, ivs]) => {
    const nums = ivs.map(([s, e]) => (s === e ? `${s}` : `${s}-${e}`)).join(':');
    return `${upper ? u.toUpperCase() : u}:${t ? `${t}:` : ''}${nums}`;
  });
const textArb = fc.array(elementArb, { maxLength: 5 }).map((els) => els.join(', \n'));
const setArb = textArb.map((t) => GtidSet.parse(t));

/** Reference model: explicit members, only for the small numbers. */
function members(s: GtidSet): Set<string> {
  const out = new Set<string>();
  for (const u of s.uuids()) {
    for (const tag of ['', 'alpha', 'b_2']) {
      for (const [a, b] of s.intervals(u, tag)) {
        for (let n = a; n <= b && n <= 100n; n++) out.add(`${u}:${tag}:${n}`);
      }
    }
  }
  return out;
}

describe('GtidSet properties', () => {
  const runs = { numRuns: 300 };
  it('parse(toString(x)) equals x, and toString is canonical', () => {
    fc.assert(
      fc.property(setArb, (x) => {
        const y = GtidSet.parse(x.toString());
        assert.ok(y.equals(x));
        assert.equal(y.toString(), x.toString());
      }),
      runs,
    );
  });
  it('normalization is idempotent (union with itself or empty changes nothing)', () => {
    fc.assert(
      fc.property(setArb, (x) => {
        assert.equal(x.union(x).toString(), x.toString());
        assert.equal(x.union(GtidSet.empty()).toString(), x.toString());
        assert.equal(x.intersect(x).toString(), x.toString());
      }),
      runs,
    );
  });
  it('A ⊆ A∪B and B ⊆ A∪B', () => {
    fc.assert(
      fc.property(setArb, setArb, (a, b) => {
        assert.ok(a.union(b).contains(a));
        assert.ok(a.union(b).contains(b));
      }),
      runs,
    );
  });
  it('(A∪B)−B ⊆ A and (A−B)∩B = ∅', () => {
    fc.assert(
      fc.property(setArb, setArb, (a, b) => {
        assert.ok(a.contains(a.union(b).subtract(b)));
        assert.ok(a.subtract(b).intersect(b).isEmpty());
      }),
      runs,
    );
  });
  it('contains ⇔ subtract is empty', () => {
    fc.assert(
      fc.property(setArb, setArb, (a, b) => {
        assert.equal(a.contains(b), b.subtract(a).isEmpty());
        // and for a guaranteed subset
        const sub = a.intersect(b);
        assert.ok(a.contains(sub) && b.contains(sub));
      }),
      runs,
    );
  });
  it('union/intersect commute; counts add up', () => {
    fc.assert(
      fc.property(setArb, setArb, (a, b) => {
        assert.ok(a.union(b).equals(b.union(a)));
        assert.ok(a.intersect(b).equals(b.intersect(a)));
        assert.equal(a.union(b).count(), a.count() + b.count() - a.intersect(b).count());
        assert.equal(a.subtract(b).count(), a.count() - a.intersect(b).count());
        assert.ok(a.subtract(b).union(a.intersect(b)).equals(a));
      }),
      runs,
    );
  });
  it('agrees with a member-by-member model on small numbers', () => {
    fc.assert(
      fc.property(setArb, setArb, (a, b) => {
        const ma = members(a);
        const mb = members(b);
        const mu = members(a.union(b));
        const ms = members(a.subtract(b));
        const mi = members(a.intersect(b));
        assert.deepEqual(mu, new Set([...ma, ...mb]));
        assert.deepEqual(ms, new Set([...ma].filter((x) => !mb.has(x))));
        assert.deepEqual(mi, new Set([...ma].filter((x) => mb.has(x))));
      }),
      { numRuns: 150 },
    );
  });
  it('intervals in toString are sorted and never touch', () => {
    fc.assert(
      fc.property(setArb, (x) => {
        for (const u of x.uuids()) {
          for (const tag of ['', 'alpha', 'b_2']) {
            const iv = x.intervals(u, tag);
            for (let i = 1; i < iv.length; i++) assert.ok(iv[i][0] > iv[i - 1][1] + 1n);
          }
        }
      }),
      runs,
    );
  });
});

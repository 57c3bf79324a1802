import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compareCoords, binlogIndex, coordsEqual, formatCoords } from '../../src/mysql/coords';

describe('compareCoords', () => {
  it('orders by file index numerically, then position', () => {
    assert.equal(compareCoords({ file: 'binlog.000009', pos: 900 }, { file: 'binlog.000010', pos: 4 }), -1);
    assert.equal(compareCoords({ file: 'binlog.999999', pos: 4 }, { file: 'binlog.1000000', pos: 4 }), -1);
    assert.equal(compareCoords({ file: 'binlog.000010', pos: 500 }, { file: 'binlog.000010', pos: 400 }), 1);
    assert.equal(compareCoords({ file: 'binlog.000010', pos: 400 }, { file: 'binlog.000010', pos: 400 }), 0);
  });
  it('falls back to text order without a numeric index', () => {
    assert.equal(compareCoords({ file: 'a', pos: 9 }, { file: 'b', pos: 1 }), -1);
    assert.equal(compareCoords({ file: 'a', pos: 9 }, { file: 'a', pos: 1 }), 1);
  });
  it('helpers', () => {
    assert.equal(binlogIndex('mysql-bin.000123'), 123);
    assert.equal(binlogIndex('nofile'), undefined);
    assert.equal(coordsEqual({ file: 'b.1', pos: 4 }, { file: 'b.000001', pos: 4 }), true);
    assert.equal(coordsEqual(null, { file: 'b.1', pos: 4 }), false);
    assert.equal(formatCoords({ file: 'b.1', pos: 4 }), 'b.1:4');
  });
});

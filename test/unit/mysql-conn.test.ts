import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { classifyError, isAliveError, isUnreachableError, MysqlError, redactSql, sslOptions, connOptions } from '../../src/mysql/conn';
import { ClusterConfig } from '../../src/config/schema';

describe('redactSql', () => {
  it('hides passwords in CHANGE ... TO, CREATE USER and SET PASSWORD', () => {
    assert.equal(
      redactSql("CHANGE REPLICATION SOURCE TO SOURCE_HOST = 'h', SOURCE_PASSWORD = 'se\\'cr''et', SOURCE_PORT = 1"),
      "CHANGE REPLICATION SOURCE TO SOURCE_HOST = 'h', SOURCE_PASSWORD = '***', SOURCE_PORT = 1",
    );
    assert.equal(redactSql("CHANGE MASTER TO MASTER_PASSWORD='x'"), "CHANGE MASTER TO MASTER_PASSWORD='***'");
    assert.equal(redactSql("CREATE USER a IDENTIFIED BY 'pw'"), "CREATE USER a IDENTIFIED BY '***'");
    assert.equal(redactSql("ALTER USER a IDENTIFIED WITH caching_sha2_password BY 'pw'"), "ALTER USER a IDENTIFIED WITH caching_sha2_password BY '***'");
    assert.equal(redactSql("SET PASSWORD FOR a = 'pw'"), "SET PASSWORD FOR a = '***'");
  });
  it('MysqlError never shows the password', () => {
    const e = new MysqlError({
      server: 'db2',
      code: 'ER_PARSE_ERROR',
      errno: 1064,
      message: "You have an error near 'MASTER_PASSWORD = 'hunter2''",
      statement: "CHANGE MASTER TO MASTER_PASSWORD = 'hunter2', MASTER_HOST='x'",
    });
    assert.doesNotMatch(e.message, /hunter2/);
    assert.match(e.message, /^db2: .*\[ER_PARSE_ERROR 1064\] while running: CHANGE MASTER TO MASTER_PASSWORD = '\*\*\*'/);
    assert.equal(e.server, 'db2');
    assert.equal(e.errno, 1064);
  });
});

describe('classifyError / isAliveError', () => {
  const alive: [string, number][] = [
    ['ER_CON_COUNT_ERROR', 1040],
    ['ER_ACCESS_DENIED_ERROR', 1045],
    ['ER_HOST_IS_BLOCKED', 1129],
    ['ER_HOST_NOT_PRIVILEGED', 1130],
    ['ER_TOO_MANY_USER_CONNECTIONS', 1203],
    ['ER_USER_LIMIT_REACHED', 1226],
    ['ER_OPTION_PREVENTS_STATEMENT', 1290],
    ['ER_SECURE_TRANSPORT_REQUIRED', 3159],
  ];
  for (const [code, errno] of alive) {
    it(`${errno} ${code} proves the server is alive`, () => {
      assert.equal(isAliveError({ code, errno }), true);
      assert.equal(isUnreachableError({ code, errno }), false);
    });
  }
  for (const code of ['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'HEIR_QUERY_TIMEOUT']) {
    it(`${code} means unreachable`, () => {
      assert.equal(classifyError({ code }), 'unreachable');
      assert.equal(isAliveError({ code }), false);
      assert.equal(isUnreachableError({ code }), true);
    });
  }
  it('shutdown in progress is not alive', () => {
    assert.equal(classifyError({ code: 'ER_SERVER_SHUTDOWN', errno: 1053 }), 'shutting-down');
    assert.equal(isAliveError({ code: 'ER_SERVER_SHUTDOWN', errno: 1053 }), false);
    assert.equal(isUnreachableError({ errno: 1053 }), true);
  });
  it('client-side 2xxx numbers are not answers from the server', () => {
    assert.equal(classifyError({ code: 'X', errno: 2013 }), 'unreachable');
  });
  it('works on MysqlError too; unknowns stay unknown', () => {
    assert.equal(isAliveError(new MysqlError({ server: 's', code: 'ER_CON_COUNT_ERROR', errno: 1040, message: 'Too many connections' })), true);
    assert.equal(classifyError(new Error('boom')), 'unknown');
    assert.equal(classifyError(undefined), 'unknown');
  });
});

describe('sslOptions', () => {
  it('returns the same object for the same settings, so mysql2 shares one TLS context and its sessions', () => {
    assert.equal(sslOptions({ mode: 'preferred' }), sslOptions({ mode: 'preferred' }));
    assert.equal(sslOptions({ mode: 'required' }), sslOptions({ mode: 'required' }));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-ssl-'));
    try {
      const ca = path.join(dir, 'ca.pem');
      fs.writeFileSync(ca, 'one');
      const first = sslOptions({ mode: 'verify-ca', ca });
      assert.equal(sslOptions({ mode: 'verify-ca', ca }), first);
      fs.writeFileSync(ca, 'two'); // a replaced certificate gives a new object
      assert.notEqual(sslOptions({ mode: 'verify-ca', ca }), first);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('maps the TLS modes', () => {
    assert.equal(sslOptions({ mode: 'disabled' }), undefined);
    assert.deepEqual(sslOptions({ mode: 'preferred' }), { rejectUnauthorized: false });
    assert.deepEqual(sslOptions({ mode: 'required' }), { rejectUnauthorized: false });
    const pem = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    assert.deepEqual(sslOptions({ mode: 'verify-ca', ca: pem }), { ca: pem, rejectUnauthorized: true, verifyIdentity: false });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-tls-'));
    try {
      fs.writeFileSync(path.join(dir, 'ca.pem'), pem);
      assert.deepEqual(sslOptions({ mode: 'verify-identity', ca: path.join(dir, 'ca.pem') }), {
        ca: pem,
        rejectUnauthorized: true,
        verifyIdentity: true,
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.throws(() => sslOptions({ mode: 'verify-ca', ca: '/nonexistent/ca.pem' }, 'db1'), /db1: cannot read TLS ca file \/nonexistent\/ca.pem/);
  });
});

describe('connOptions', () => {
  it('takes credentials and timeouts from the cluster', () => {
    const cluster = ClusterConfig.parse({
      name: 'c',
      mysql: { user: 'heir', password: 'pw', replication_user: 'repl', replication_password: 'rp' },
      nodes: [
        { name: 'db1', host: '127.0.0.1', port: 3307 },
        { name: 'db2', host: '127.0.0.1' },
      ],
    });
    const o = connOptions(cluster, cluster.nodes[0]);
    assert.deepEqual(o, {
      name: 'db1',
      host: '127.0.0.1',
      port: 3307,
      user: 'heir',
      password: 'pw',
      connectTimeoutMs: 2000,
      queryTimeoutMs: 5000,
      tls: { mode: 'preferred' },
    });
    assert.equal(connOptions(cluster, cluster.nodes[1], { timeoutMs: 700 }).queryTimeoutMs, 700);
  });
});


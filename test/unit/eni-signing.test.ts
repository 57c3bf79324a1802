/**
 * The emulator's signature verification on hand-built requests (pure). The SDK's
 * own requests are verified in test/integration/eni-emulator.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { acs3StringToSign, percentEncode, rpcSignature, sha256Hex, SignatureFailure, verifyAcs3, verifyRpcHmacSha1, type ParsedRequest } from '../ecs-emulator/signing';

const secrets: Record<string, string> = { AK1: 'secret-1' };
const secretOf = (id: string) => secrets[id];

function signedAcs3(over: Partial<ParsedRequest> = {}, secret = 'secret-1', id = 'AK1'): ParsedRequest {
  const body = Buffer.alloc(0);
  const req: ParsedRequest = {
    method: 'POST',
    pathname: '/',
    query: { RegionId: 'cn-hangzhou', 'NetworkInterfaceId.1': 'eni-a b*' },
    headers: {
      host: 'ecs.example',
      'x-acs-action': 'DescribeNetworkInterfaces',
      'x-acs-version': '2014-05-26',
      'x-acs-date': '2025-01-01T00:00:00Z',
      'x-acs-signature-nonce': 'n1',
      'x-acs-content-sha256': sha256Hex(body),
    },
    body,
    ...over,
  };
  const names = Object.keys(req.headers).filter((h) => h === 'host' || h.startsWith('x-acs-')).sort();
  const { stringToSign } = acs3StringToSign(req, 'ACS3-HMAC-SHA256', names);
  const sig = createHmac('sha256', secret).update(stringToSign).digest('hex');
  req.headers.authorization = `ACS3-HMAC-SHA256 Credential=${id},SignedHeaders=${names.join(';')},Signature=${sig}`;
  return req;
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SignatureFailure, String(err));
    return err.code;
  }
  return 'accepted';
}

test('percent-encoding follows the signature spec', () => {
  assert.equal(percentEncode("a b*~!'()"), 'a%20b%2A~%21%27%28%29');
});

test('ACS3: a correct signature is accepted', () => {
  assert.deepEqual(verifyAcs3(signedAcs3(), secretOf), { accessKeyId: 'AK1' });
});

test('ACS3: wrong secret → SignatureDoesNotMatch; unknown key → InvalidAccessKeyId.NotFound', () => {
  assert.equal(code(() => verifyAcs3(signedAcs3({}, 'other'), secretOf)), 'SignatureDoesNotMatch');
  assert.equal(code(() => verifyAcs3(signedAcs3({}, 'secret-1', 'AK9'), secretOf)), 'InvalidAccessKeyId.NotFound');
});

test('ACS3: a parameter changed after signing is caught', () => {
  const r = signedAcs3();
  r.query.RegionId = 'cn-beijing';
  assert.equal(code(() => verifyAcs3(r, secretOf)), 'SignatureDoesNotMatch');
});

test('ACS3: malformed or incomplete authorization → IncompleteSignature', () => {
  const r = signedAcs3();
  r.headers.authorization = 'Bearer x';
  assert.equal(code(() => verifyAcs3(r, secretOf)), 'IncompleteSignature');
  const r2 = signedAcs3();
  r2.headers['x-acs-extra'] = 'unsigned';
  assert.equal(code(() => verifyAcs3(r2, secretOf)), 'IncompleteSignature');
  const r3 = signedAcs3();
  r3.body = Buffer.from('tampered');
  assert.equal(code(() => verifyAcs3(r3, secretOf)), 'IncompleteSignature');
});

test('RPC HMAC-SHA1: correct accepted, wrong rejected, method checked', () => {
  const q: Record<string, string> = {
    Action: 'DescribeInstances',
    Version: '2014-05-26',
    Format: 'json',
    AccessKeyId: 'AK1',
    SignatureMethod: 'HMAC-SHA1',
    SignatureVersion: '1.0',
    SignatureNonce: 'n2',
    Timestamp: '2025-01-01T00:00:00Z',
    RegionId: 'cn-hangzhou',
  };
  q.Signature = rpcSignature('POST', q, 'secret-1');
  const req: ParsedRequest = { method: 'POST', pathname: '/', query: q, headers: {}, body: Buffer.alloc(0) };
  assert.deepEqual(verifyRpcHmacSha1(req, {}, secretOf), { accessKeyId: 'AK1' });
  assert.equal(code(() => verifyRpcHmacSha1({ ...req, query: { ...q, Signature: 'AAAA' } }, {}, secretOf)), 'SignatureDoesNotMatch');
  assert.equal(code(() => verifyRpcHmacSha1({ ...req, query: { ...q, SignatureMethod: 'HMAC-MD5' } }, {}, secretOf)), 'InvalidSignatureMethod');
  assert.equal(code(() => verifyRpcHmacSha1({ ...req, query: { ...q, AccessKeyId: 'nope' } }, {}, secretOf)), 'InvalidAccessKeyId.NotFound');
  // form parameters are signed too
  assert.equal(code(() => verifyRpcHmacSha1(req, { InstanceIds: '["i-x"]' }, secretOf)), 'SignatureDoesNotMatch');
});

/**
 * Server-side verification of Alibaba Cloud API request signatures, as the ECS
 * endpoint does it: ACS3-HMAC-SHA256 (the Authorization header the current SDKs
 * send) and the legacy RPC signature (SignatureMethod=HMAC-SHA1 in the query).
 *
 * Pure functions over a parsed request; the emulator maps a failure to the
 * API's error code. The canonical forms follow the published signature
 * specifications (V3 request signature; RPC signature version 1.0).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface ParsedRequest {
  method: string;
  /** Path without the query string, as sent. */
  pathname: string;
  /** Decoded query parameters (one value per key). */
  query: Record<string, string>;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  body: Buffer;
}

/** Failure of signature verification, carrying the API error it maps to. */
export class SignatureFailure extends Error {
  constructor(
    readonly code: 'IncompleteSignature' | 'SignatureDoesNotMatch' | 'InvalidAccessKeyId.NotFound' | 'InvalidSignatureMethod' | 'MissingParameter',
    message: string,
  ) {
    super(message);
  }
}

/** RFC 3986 percent-encoding as the signature specs define it (space → %20, * → %2A, ~ kept). */
export function percentEncode(s: string): string {
  return encodeURIComponent(s)
    .replace(/!/g, '%21')
    .replace(/'/g, '%27')
    .replace(/\(/g, '%28')
    .replace(/\)/g, '%29')
    .replace(/\*/g, '%2A');
}

export const sha256Hex = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface Acs3Authorization {
  algorithm: string;
  accessKeyId: string;
  signedHeaders: string[];
  signature: string;
}

/** Parse `ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=a;b,Signature=hex`. */
export function parseAcs3Authorization(value: string): Acs3Authorization {
  const m = /^(ACS3-[A-Z0-9-]+)\s+(.*)$/.exec(value.trim());
  if (!m) throw new SignatureFailure('IncompleteSignature', 'The request signature does not conform to Aliyun standards: the Authorization header does not start with an ACS3 algorithm.');
  const fields: Record<string, string> = {};
  for (const part of m[2]!.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  if (!fields.Credential || fields.SignedHeaders === undefined || !fields.Signature) {
    throw new SignatureFailure('IncompleteSignature', 'The request signature does not conform to Aliyun standards: Credential, SignedHeaders and Signature are required in the Authorization header.');
  }
  return { algorithm: m[1]!, accessKeyId: fields.Credential, signedHeaders: fields.SignedHeaders.split(';').filter(Boolean), signature: fields.Signature.toLowerCase() };
}

/** The canonical request and string to sign of an ACS3 request, over the given signed headers. */
export function acs3StringToSign(req: ParsedRequest, algorithm: string, signedHeaders: string[]): { canonicalRequest: string; stringToSign: string } {
  const canonicalUri = req.pathname || '/';
  const canonicalQuery = Object.keys(req.query)
    .sort()
    .map((k) => `${percentEncode(k)}=${percentEncode(req.query[k] ?? '')}`)
    .join('&');
  const names = [...signedHeaders].map((h) => h.toLowerCase()).sort();
  const canonicalHeaders = names.map((h) => `${h}:${(req.headers[h] ?? '').trim()}\n`).join('');
  const payloadHash = req.headers['x-acs-content-sha256'] ?? sha256Hex(req.body);
  const canonicalRequest = [req.method.toUpperCase(), canonicalUri, canonicalQuery, canonicalHeaders, names.join(';'), payloadHash].join('\n');
  return { canonicalRequest, stringToSign: `${algorithm}\n${sha256Hex(canonicalRequest)}` };
}

/**
 * Verify an ACS3-HMAC-SHA256 request. `secretOf` returns the secret of an
 * AccessKey id, or undefined when the key does not exist.
 */
export function verifyAcs3(req: ParsedRequest, secretOf: (id: string) => string | undefined): { accessKeyId: string } {
  const auth = parseAcs3Authorization(req.headers['authorization'] ?? '');
  if (auth.algorithm !== 'ACS3-HMAC-SHA256') {
    throw new SignatureFailure('IncompleteSignature', `The request signature does not conform to Aliyun standards: signature algorithm ${auth.algorithm} is not supported here (use ACS3-HMAC-SHA256).`);
  }
  const signed = new Set(auth.signedHeaders.map((h) => h.toLowerCase()));
  // Every x-acs-* header sent, and host, must be covered by the signature.
  for (const h of Object.keys(req.headers)) {
    if ((h.startsWith('x-acs-') || h === 'host') && !signed.has(h)) {
      throw new SignatureFailure('IncompleteSignature', `The request signature does not conform to Aliyun standards: header ${h} is not in SignedHeaders.`);
    }
  }
  for (const h of ['x-acs-date', 'x-acs-signature-nonce', 'x-acs-content-sha256', 'x-acs-action', 'x-acs-version']) {
    if (!req.headers[h]) throw new SignatureFailure('IncompleteSignature', `The request signature does not conform to Aliyun standards: header ${h} is missing.`);
  }
  const bodyHash = sha256Hex(req.body);
  if (req.headers['x-acs-content-sha256']!.toLowerCase() !== bodyHash) {
    throw new SignatureFailure('IncompleteSignature', 'The request signature does not conform to Aliyun standards: x-acs-content-sha256 does not match the body.');
  }
  const secret = secretOf(auth.accessKeyId);
  if (secret === undefined) throw new SignatureFailure('InvalidAccessKeyId.NotFound', 'Specified access key is not found.');
  const { stringToSign } = acs3StringToSign(req, auth.algorithm, auth.signedHeaders);
  const expected = createHmac('sha256', secret).update(stringToSign).digest('hex');
  if (!safeEqual(expected, auth.signature)) {
    throw new SignatureFailure('SignatureDoesNotMatch', `Specified signature does not match our calculation. server StringToSign is [${stringToSign}]`);
  }
  return { accessKeyId: auth.accessKeyId };
}

/** String to sign of an RPC (signature version 1.0) request over the given parameters. */
export function rpcStringToSign(method: string, params: Record<string, string>): string {
  const canonical = Object.keys(params)
    .sort()
    .map((k) => `${percentEncode(k)}=${percentEncode(params[k] ?? '')}`)
    .join('&');
  return `${method.toUpperCase()}&${percentEncode('/')}&${percentEncode(canonical)}`;
}

export function rpcSignature(method: string, params: Record<string, string>, secret: string): string {
  return createHmac('sha1', `${secret}&`).update(rpcStringToSign(method, params)).digest('base64');
}

/** Verify a legacy RPC request: Signature over all query and form parameters except Signature itself. */
export function verifyRpcHmacSha1(
  req: ParsedRequest,
  formParams: Record<string, string>,
  secretOf: (id: string) => string | undefined,
): { accessKeyId: string } {
  const q = req.query;
  for (const p of ['AccessKeyId', 'SignatureMethod', 'SignatureVersion', 'SignatureNonce', 'Timestamp']) {
    if (!q[p]) throw new SignatureFailure('MissingParameter', `The input parameter "${p}" that is mandatory for processing this request is not supplied.`);
  }
  if (q.SignatureMethod !== 'HMAC-SHA1') {
    throw new SignatureFailure('InvalidSignatureMethod', `Specified signature method is not valid: ${q.SignatureMethod} (HMAC-SHA1 expected).`);
  }
  if (q.SignatureVersion !== '1.0') {
    throw new SignatureFailure('IncompleteSignature', `The request signature does not conform to Aliyun standards: SignatureVersion ${q.SignatureVersion} (1.0 expected).`);
  }
  const given = q.Signature;
  if (!given) throw new SignatureFailure('IncompleteSignature', 'The request signature does not conform to Aliyun standards: Signature is missing.');
  const secret = secretOf(q.AccessKeyId!);
  if (secret === undefined) throw new SignatureFailure('InvalidAccessKeyId.NotFound', 'Specified access key is not found.');
  const params: Record<string, string> = { ...q, ...formParams };
  delete params.Signature;
  const expected = rpcSignature(req.method, params, secret);
  if (!safeEqual(expected, given)) {
    throw new SignatureFailure('SignatureDoesNotMatch', `Specified signature is not matched with our calculation. server string to sign is:${rpcStringToSign(req.method, params)}`);
  }
  return { accessKeyId: q.AccessKeyId! };
}

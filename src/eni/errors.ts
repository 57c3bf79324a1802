/**
 * Alibaba Cloud API errors as heir reports them (ECS and VPC alike): the action, a kind
 * (api, network, timeout, credentials, config), the code, HTTP status and RequestId.
 * No SDK import here: callers classify without loading the SDK.
 */
export type EcsErrorKind = 'api' | 'network' | 'timeout' | 'credentials' | 'config';

export class EcsApiError extends Error {
  constructor(
    readonly action: string,
    readonly kind: EcsErrorKind,
    readonly code: string,
    message: string,
    readonly requestId?: string,
    readonly statusCode?: number,
    /** Flow control: how long the endpoint asks the caller to wait (x-acs-retry-after, ms), when it says. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'EcsApiError';
  }
}

/** The RAM action that authorizes an API action heir calls (DescribeVSwitches is the VPC API's). */
export function ramAction(action: string): string {
  return action === 'DescribeVSwitches' ? 'vpc:DescribeVSwitches' : `ecs:${action}`;
}

/** A refusal by RAM: the caller's policy does not grant the action. */
export function isPermissionDenied(e: { code: string }): boolean {
  return /^Forbidden|^NoPermission/.test(e.code);
}

/** Classify whatever the SDK threw. */
export function toEcsError(action: string, err: unknown): EcsApiError {
  const e = err as { name?: string; code?: string; message?: string; statusCode?: number; requestId?: string; retryAfter?: number; data?: Record<string, unknown> };
  const msg = String(e?.message ?? err);
  if (typeof e?.statusCode === 'number') {
    const requestId = e.requestId && e.requestId !== 'undefined' ? e.requestId : (e.data?.RequestId as string | undefined);
    const serverMsg = (e.data?.Message as string | undefined) ?? msg;
    // The SDK's ThrottlingError carries the x-acs-retry-after header as retryAfter (ms).
    const retryAfterMs = typeof e.retryAfter === 'number' && e.retryAfter >= 0 ? e.retryAfter : undefined;
    return new EcsApiError(action, 'api', e.code ?? `HTTP${e.statusCode}`, serverMsg, requestId, e.statusCode, retryAfterMs);
  }
  if (/unable to get credentials|InvalidCredentials|credentials/i.test(msg) && !/ECONN|timeout/i.test(msg)) {
    return new EcsApiError(action, 'credentials', 'NoCredentials', `no usable Alibaba Cloud credentials (${msg}); give the manager a RAM role, or set ALIBABA_CLOUD_CREDENTIALS_URI / ALIBABA_CLOUD_ACCESS_KEY_ID+SECRET in heir's environment`);
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(String(e?.code ?? '')) || /certificate/i.test(msg)) {
    return new EcsApiError(action, 'config', String(e?.code ?? 'TlsVerifyFailed'), `TLS verification of the ECS endpoint failed (${msg}); give heir.cloud.ca_file the CA that signed the endpoint's certificate`);
  }
  if (/ReadTimeout|ConnectTimeout|RequestTimeout|ETIMEDOUT/i.test(`${e?.name ?? ''} ${msg}`)) {
    return new EcsApiError(action, 'timeout', 'Timeout', msg);
  }
  return new EcsApiError(action, 'network', (e?.code as string) ?? 'NetworkError', msg);
}

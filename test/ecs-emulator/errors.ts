/**
 * The ECS API errors the emulator returns: code, HTTP status and message as the
 * ECS endpoint documents them. The body has the API's error shape:
 * { RequestId, HostId, Code, Message, Recommend }.
 */

export interface ApiErrorSpec {
  status: number;
  message: string;
}

export const ERRORS = {
  // authentication and request form
  'InvalidAccessKeyId.NotFound': { status: 404, message: 'Specified access key is not found.' },
  'InvalidAccessKeyId.Inactive': { status: 400, message: 'Specified access key is disabled.' },
  SignatureDoesNotMatch: { status: 400, message: 'Specified signature does not match our calculation.' },
  IncompleteSignature: { status: 400, message: 'The request signature does not conform to Aliyun standards.' },
  InvalidSignatureMethod: { status: 400, message: 'Specified signature method is not valid.' },
  SignatureNonceUsed: { status: 400, message: 'Specified signature nonce was used already.' },
  'InvalidTimeStamp.Expired': { status: 400, message: 'Specified time stamp or date value is expired.' },
  'InvalidTimeStamp.Format': { status: 400, message: 'Specified time stamp or date value is not well formatted.' },
  'InvalidSecurityToken.Expired': { status: 400, message: 'Specified SecurityToken is expired.' },
  'InvalidSecurityToken.MismatchWithAccessKey': { status: 400, message: 'Specified SecurityToken mismatch with the AccessKey.' },
  'InvalidSecurityToken.Malformed': { status: 400, message: 'Specified SecurityToken is malformed.' },
  MissingParameter: { status: 400, message: 'The input parameter that is mandatory for processing this request is not supplied.' },
  InvalidParameter: { status: 400, message: 'The specified parameter is not valid.' },
  'InvalidAction.NotFound': { status: 404, message: 'Specified api is not found, please check your url and method.' },
  InvalidVersion: { status: 400, message: 'Specified parameter Version is not valid.' },
  'InvalidRegionId.NotFound': { status: 404, message: 'The specified RegionId does not exist.' },
  // flow control and service health
  'Throttling.User': { status: 400, message: 'Request was denied due to user flow control.' },
  Throttling: { status: 400, message: 'Request was denied due to request throttling.' },
  ServiceUnavailable: { status: 503, message: 'The request has failed due to a temporary failure of the server.' },
  InternalError: { status: 500, message: 'The request processing has failed due to some unknown error, exception or failure.' },
  OperationConflict: { status: 403, message: 'Request was denied due to conflict with a previous request, please try again later.' },
  // resources
  'InvalidEniId.NotFound': { status: 404, message: 'The specified ENI does not exist.' },
  'InvalidInstanceId.NotFound': { status: 404, message: 'The specified InstanceId does not exist.' },
  'InvalidEcsId.NotFound': { status: 404, message: 'The specified ECS instance does not exist.' },
  'InvalidInstanceIds.Malformed': { status: 400, message: 'The specified parameter InstanceIds is not valid.' },
  IncorrectInstanceStatus: { status: 403, message: 'The current status of the resource does not support this operation.' },
  'InvalidOperation.InvalidEniState': { status: 403, message: 'The operation is not allowed in the current ENI state.' },
  'InvalidOperation.InvalidEcsState': { status: 403, message: 'The operation is not allowed in the current ECS state.' },
  'InvalidOperation.DetachPrimaryEniNotAllowed': { status: 403, message: 'Detaching primary ENI from ECS instance is not allowed.' },
  'InvalidOperation.EniCountExceeded': { status: 403, message: 'The maximum number of ENIs on the specified ECS instance is exceeded.' },
  'InvalidOperation.AvailabilityZoneMismatch': { status: 403, message: 'The specified ENI and ECS instance are not in the same zone.' },
  'InvalidOperation.VpcMismatch': { status: 403, message: 'The specified ENI and ECS instance are not in the same VPC.' },
  'InvalidOperation.EniNotAttached': { status: 403, message: 'The specified ENI is not attached to the specified instance.' },
  'InvalidIp.IpAssigned': { status: 403, message: 'The specified private IP address is already assigned to another network interface.' },
  'InvalidIp.IpUnassigned': { status: 403, message: 'The specified private IP address is not assigned to the network interface.' },
  'InvalidOperation.Ipv4CountExceeded': { status: 403, message: 'The maximum number of private IP addresses on the network interface is exceeded.' },
  'InvalidParam.PrimaryIp': { status: 403, message: 'The primary private IP address of a network interface cannot be unassigned.' },
} satisfies Record<string, ApiErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** An API error raised by a handler; the server turns it into the error response. */
export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    detail?: string,
  ) {
    super(detail ? `${ERRORS[code].message} ${detail}` : ERRORS[code].message);
    this.status = ERRORS[code].status;
  }
}

export function errorBody(code: string, message: string, requestId: string, hostId: string): Record<string, string> {
  return {
    RequestId: requestId,
    HostId: hostId,
    Code: code,
    Message: message,
    Recommend: `https://api.aliyun.com/troubleshoot?q=${encodeURIComponent(code)}&product=Ecs&requestId=${requestId}`,
  };
}

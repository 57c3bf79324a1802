/**
 * The ECS API errors the emulator returns: code, HTTP status and message as the
 * ECS endpoint documents them. The body has the API's error shape:
 * { RequestId, HostId, Code, Message, Recommend }.
 *
 * `doc` names the page of Alibaba Cloud's ECS API reference each code comes from
 * ("ECS API <Action>, error codes" is that action's error table). Where no page
 * consulted gives the code or its HTTP status, `doc` says so and what was chosen.
 */

export interface ApiErrorSpec {
  status: number;
  message: string;
  /** Where the code and status are documented. */
  doc: string;
}

const COMMON = 'ECS API common error codes (API error center)';

export const ERRORS = {
  // authentication and request form
  'InvalidAccessKeyId.NotFound': { status: 404, message: 'Specified access key is not found.', doc: COMMON },
  'InvalidAccessKeyId.Inactive': { status: 400, message: 'Specified access key is disabled.', doc: COMMON },
  SignatureDoesNotMatch: { status: 400, message: 'Specified signature does not match our calculation.', doc: COMMON },
  IncompleteSignature: { status: 400, message: 'The request signature does not conform to Aliyun standards.', doc: COMMON },
  InvalidSignatureMethod: { status: 400, message: 'Specified signature method is not valid.', doc: COMMON },
  SignatureNonceUsed: { status: 400, message: 'Specified signature nonce was used already.', doc: COMMON },
  'InvalidTimeStamp.Expired': { status: 400, message: 'Specified time stamp or date value is expired.', doc: COMMON },
  'InvalidTimeStamp.Format': { status: 400, message: 'Specified time stamp or date value is not well formatted.', doc: COMMON },
  'InvalidSecurityToken.Expired': { status: 400, message: 'Specified SecurityToken is expired.', doc: COMMON },
  'InvalidSecurityToken.MismatchWithAccessKey': { status: 400, message: 'Specified SecurityToken mismatch with the AccessKey.', doc: COMMON },
  'InvalidSecurityToken.Malformed': { status: 400, message: 'Specified SecurityToken is malformed.', doc: COMMON },
  MissingParameter: { status: 400, message: 'The input parameter that is mandatory for processing this request is not supplied.', doc: 'ECS API DetachNetworkInterface, error codes' },
  InvalidParameter: { status: 400, message: 'The specified parameter is not valid.', doc: 'ECS API UnassignPrivateIpAddresses, error codes' },
  'InvalidAction.NotFound': { status: 404, message: 'Specified api is not found, please check your url and method.', doc: COMMON },
  InvalidVersion: { status: 400, message: 'Specified parameter Version is not valid.', doc: COMMON },
  'InvalidRegionId.NotFound': { status: 404, message: 'The specified RegionId does not exist.', doc: COMMON },
  // authorization: a RAM policy without the action
  'Forbidden.SubUser': { status: 403, message: 'The specified action is not available for you.', doc: 'ECS API DetachNetworkInterface, error codes' },
  // a dry run that would have succeeded (DryRun=true)
  DryRunOperation: { status: 400, message: 'Request validation has been passed with DryRun flag set.', doc: 'ECS API StopInstance, DryRun parameter (the DryRunOperation code as ECS actions with DryRun document it)' },
  // flow control and service health
  'Throttling.User': { status: 400, message: 'Request was denied due to user flow control.', doc: COMMON },
  Throttling: { status: 400, message: 'Request was denied due to request throttling.', doc: COMMON },
  ServiceUnavailable: { status: 503, message: 'The request has failed due to a temporary failure of the server.', doc: COMMON },
  InternalError: { status: 500, message: 'The request processing has failed due to some unknown error, exception or failure.', doc: COMMON },
  // another task on the same ENI is in progress
  'Operation.Conflict': { status: 403, message: 'ecs task is conflicted.', doc: 'ECS API UnassignPrivateIpAddresses / AssignPrivateIpAddresses, error codes' },
  // resources
  'InvalidEniId.NotFound': { status: 404, message: 'The specified ENI does not exist.', doc: 'ECS API UnassignPrivateIpAddresses, error codes' },
  'InvalidInstanceId.NotFound': { status: 404, message: 'The specified InstanceId does not exist.', doc: 'ECS API StopInstance, error codes' },
  'InvalidEcsId.NotFound': { status: 404, message: 'The specified ECS instance does not exist.', doc: 'ECS API AttachNetworkInterface, error codes' },
  'InvalidInstanceIds.Malformed': { status: 400, message: 'The specified parameter InstanceIds is not valid.', doc: 'ECS API DescribeInstances, error codes' },
  IncorrectInstanceStatus: { status: 403, message: 'The current status of the resource does not support this operation.', doc: 'ECS API StopInstance, error codes' },
  'InvalidOperation.InvalidEniState': { status: 400, message: 'The operation is not allowed in the current ENI state.', doc: 'ECS API AttachNetworkInterface / UnassignPrivateIpAddresses, error codes' },
  'InvalidOperation.InvalidEcsState': { status: 400, message: 'The operation is not allowed in the current ECS state.', doc: 'ECS API DetachNetworkInterface, error codes' },
  'InvalidOperation.DetachPrimaryEniNotAllowed': { status: 400, message: 'Detaching primary ENI from ECS instance is not allowed.', doc: 'ECS API DetachNetworkInterface, error codes' },
  EniPerInstanceLimitExceeded: {
    status: 403,
    message: 'The maximum number of ENIs on the specified ECS instance is exceeded.',
    doc: 'ECS API AttachNetworkInterface, error codes (code); the pages consulted do not show its HTTP status: 403, as for the other quota codes',
  },
  'InvalidOperation.AvailabilityZoneMismatch': { status: 403, message: 'The specified ENI and ECS instance are not in the same zone.', doc: 'ECS API AttachNetworkInterface, error codes' },
  'InvalidOperation.VpcMismatch': { status: 403, message: 'The specified ENI and ECS instance are not in the same VPC.', doc: 'ECS API AttachNetworkInterface, error codes' },
  'InvalidIp.IpAssigned': { status: 403, message: 'The specified private IP address is already assigned to another network interface.', doc: 'ECS API AssignPrivateIpAddresses, error codes' },
  'InvalidIp.IpUnassigned': { status: 403, message: 'The specified private IP address is not assigned to the network interface.', doc: 'ECS API UnassignPrivateIpAddresses, error codes' },
  'InvalidVSwitchId.IpInvalid': { status: 403, message: 'The specified IpAddress is not valid in the VSwitch CIDR block.', doc: 'ECS API UnassignPrivateIpAddresses / AssignPrivateIpAddresses, error codes' },
  'InvalidOperation.Ipv4CountExceeded': { status: 403, message: 'The maximum number of private IP addresses on the network interface is exceeded.', doc: 'ECS API AssignPrivateIpAddresses, error codes' },
  'InvalidParam.PrimaryIp': {
    status: 403,
    message: 'The primary private IP address of a network interface cannot be unassigned.',
    doc: 'not in the pages consulted (UnassignPrivateIpAddresses only takes secondary addresses); kept as the nearest answer to unassigning the primary address',
  },
} satisfies Record<string, ApiErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** An API error raised by a handler; the server turns it into the error response. */
export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    detail?: string,
    /** Extra response headers (x-acs-retry-after with Throttling). */
    readonly headers: Record<string, string> = {},
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

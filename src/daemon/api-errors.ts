/**
 * The API's error codes: every error answers {"error": message, "code": one of these}.
 * Shared by the server (api.ts) and its OpenAPI document (openapi.ts).
 */
export const ERROR_CODES = {
  bad_request: 'the request is malformed: not JSON, a missing, mistyped or unknown field (400)',
  unauthorized: 'no "Authorization: Bearer" header, or not heir.api.token (401)',
  actions_disabled: 'no heir.api.token is configured: the API is read-only (403)',
  not_found: 'no such endpoint (404)',
  unknown_cluster: 'no cluster of that name (404)',
  unknown_node: 'the cluster has no node of that name (404)',
  unknown_operation: 'no operation of that id in this daemon (404)',
  method_not_allowed: 'the endpoint does not take this method (405)',
  busy: 'the daemon runs another operation on the cluster (409)',
  no_master: 'the daemon does not know the cluster\'s master, so it cannot fail it over (409)',
  refused: 'the action was refused by a precondition the operator can fix (409)',
  payload_too_large: 'the request body is too large (413)',
  stopping: 'the daemon is stopping (503)',
  leader_unavailable: 'heir.ha: this manager does not lead the cluster and cannot forward the action to its leader (none known, no API address, unreachable, or refusing the token); the message names the leader and why (503)',
  not_leader: 'heir.ha: the action was forwarded by another manager to this one, which does not lead the cluster (the leadership moved); not forwarded again (503)',
  internal: 'an unexpected error; the daemon log has the details (500)',
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

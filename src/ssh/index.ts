/** SSH adapter (the only ssh2 user) and known_hosts handling. */
export { SshError, sshTarget, sshExec, sshReadFile, sshStreamFile, sshCopyFile, sshStat } from './client';
export type { SshTarget, SshErrorKind, ExecResult } from './client';
export {
  parseKnownHosts,
  checkHostKey,
  fingerprint,
  lookupName,
  entryMatchesHost,
  hostKeyAlgorithmsFor,
  keyBlobType,
} from './known-hosts';
export type { KnownHostEntry, HostKeyCheck } from './known-hosts';

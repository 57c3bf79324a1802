/** SSH adapter (the only ssh2 user), its kept connections, and known_hosts handling. */
export { SshError, sshTarget, sshExec, sshReadFile, sshStreamFile, sshCopyFile, sshStat, sshWarm, closeSshConnections, sshConnectionStats } from './client';
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

/**
 * Failure analysis: observations in, one named Verdict out (pure).
 *
 * All of heir's judgement about the master lives here, as a table of named rows
 * (RULES). Each row has an exact condition over Facts, derived from the observations;
 * the first row that holds is the verdict. Failover permission is then a separate,
 * explicit decision (confirm): only dead verdicts may lead to failover, and only when
 * enough independent sources agree and no source saw the master alive.
 *
 * Recovery never re-derives any of this: it consumes the Verdict.
 */
import { DEAD_VERDICTS } from './types';
import type {
  DetectionParams,
  Evidence,
  HostCheck,
  ManagerSight,
  Observations,
  PingClass,
  PingObservation,
  ReplicaSight,
  SecondaryCheck,
  Source,
  TcpProbeResult,
  Verdict,
  VerdictKind,
} from './types';

// ---------------------------------------------------------------------------
// Facts: each observation reduced to what it says about the master.

/**
 * The SSH host check, reduced:
 * - disabled: ssh_check off;  not-run: no result yet;
 * - host-down: ssh could not reach the host at all (timeout, no route);
 * - host-up-unknown: the host answered (sshd refused us, auth or host key failed, or the
 *   command failed) but we learned nothing about mysqld;
 * - mysqld-dead: no mysqld process, or nothing listening on its port and the local probe refused;
 * - mysqld-stopped: the process is in state T (SIGSTOP, debugger);
 * - mysqld-unresponsive: the process runs and TCP is accepted locally, but no greeting;
 * - mysqld-answers: the local probe got mysqld's greeting.
 */
export type HostFact =
  | 'disabled'
  | 'not-run'
  | 'host-down'
  | 'host-up-unknown'
  | 'mysqld-dead'
  | 'mysqld-stopped'
  | 'mysqld-unresponsive'
  | 'mysqld-answers';

/**
 * The secondary checks, reduced: 'none' configured; 'unknown' none could run;
 * 'greeting' at least one host got mysqld's greeting (alive from there);
 * 'silent' TCP accepted but no greeting (and no host got one);
 * 'refused' every host that ran was refused; 'unreachable' every host that ran
 * timed out or had no route (or a mix of refused and unreachable).
 */
export type SecondaryFact = 'none' | 'unknown' | 'greeting' | 'silent' | 'refused' | 'unreachable';

export interface ReplicaFacts {
  /** Replicas that replicate from the master (every status except 'elsewhere'). */
  total: string[];
  hears: string[];
  lost: string[];
  /** lost with a non-zero IO errno: "disconnected with an error". */
  lostWithError: string[];
  silentConclusive: string[];
  silentInconclusive: string[];
  stopped: string[];
  broken: string[];
  unreadable: string[];
}

/** The other managers' views (heir.ha), reduced: names by what their fresh view says. */
export interface ManagerFacts {
  reaching: string[];
  lost: string[];
  /** Reached the master before this failure began and have not spoken since: awaited. */
  awaited: string[];
  /** The views themselves, for the reasons' words. */
  sights: ManagerSight[];
}

export interface Facts {
  ping: PingClass;
  failing: boolean;
  failingForMs: number;
  tcp: TcpProbeResult | 'none';
  reprobe: PingClass | 'none';
  replicas: ReplicaFacts;
  host: HostFact;
  secondary: SecondaryFact;
  managers: ManagerFacts;
  /** Any replica, the host itself, another host or another manager saw the master alive after the failure began. */
  seenAliveElsewhere: boolean;
  /** The manager reached the port and got mysqld's greeting. */
  managerGreeted: boolean;
  /** ping and reprobe both timed out (connected, or at least not refused, but no answer). */
  queriesTimeOut: boolean;
  /** Manager could not even get TCP through: unreachable probe or no-route/connect-timeout without a TCP answer. */
  managerNoTcp: boolean;
}

const TIMEOUTISH: PingClass[] = ['connect-timeout', 'query-timeout', 'write-timeout'];

export function hostFact(h: HostCheck | null | undefined): HostFact {
  if (h === null) return 'disabled';
  if (h === undefined) return 'not-run';
  if (!h.ran) {
    const e = h.sshError;
    if (!e) return 'host-up-unknown';
    if (e.kind === 'timeout') return 'host-down';
    if (e.kind === 'connect') {
      const c = e.code ?? '';
      // refused/reset: the host's kernel answered; only the ssh service is missing.
      if (c === 'ECONNREFUSED' || c === 'ECONNRESET') return 'host-up-unknown';
      if (['EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EHOSTDOWN', 'ENETDOWN'].includes(c)) return 'host-down';
      return 'host-up-unknown';
    }
    return 'host-up-unknown';
  }
  const state = h.processState ?? null;
  if (state === 'T' || state === 't') return 'mysqld-stopped';
  if (h.local === 'greeting' || h.local === 'error-greeting') return 'mysqld-answers';
  if (state === null || state === 'Z' || state === 'X') return 'mysqld-dead';
  if (h.local === 'refused' || (h.listening === false && h.local !== 'silent')) return 'mysqld-dead';
  if (h.local === 'silent') return 'mysqld-unresponsive';
  return 'host-up-unknown';
}

export function secondaryFact(checks: SecondaryCheck[]): SecondaryFact {
  if (checks.length === 0) return 'none';
  const ran = checks.filter((c) => c.ran && c.result);
  if (ran.length === 0) return 'unknown';
  const results = ran.map((c) => c.result!);
  if (results.some((r) => r === 'greeting' || r === 'error-greeting')) return 'greeting';
  if (results.some((r) => r === 'silent')) return 'silent';
  if (results.every((r) => r === 'refused')) return 'refused';
  return 'unreachable';
}

export function replicaFacts(sights: ReplicaSight[]): ReplicaFacts {
  const of = (pred: (s: ReplicaSight) => boolean) => sights.filter(pred).map((s) => s.name);
  return {
    total: of((s) => s.status !== 'elsewhere'),
    hears: of((s) => s.status === 'hears'),
    lost: of((s) => s.status === 'lost'),
    lostWithError: of((s) => s.status === 'lost' && (s.lastIoErrno ?? 0) !== 0),
    silentConclusive: of((s) => s.status === 'silent' && s.silenceConclusive === true),
    silentInconclusive: of((s) => s.status === 'silent' && s.silenceConclusive !== true),
    stopped: of((s) => s.status === 'stopped'),
    broken: of((s) => s.status === 'broken'),
    unreadable: of((s) => s.status === 'unreadable'),
  };
}

export function managerFacts(sights: readonly ManagerSight[]): ManagerFacts {
  const of = (st: ManagerSight['status']) => sights.filter((s) => s.status === st).map((s) => s.manager);
  return { reaching: of('reaches'), lost: of('lost'), awaited: of('earlier'), sights: [...sights] };
}

export function deriveFacts(o: Observations): Facts {
  const failing = o.ping.class !== 'ok';
  const tcp = o.tcp?.result ?? 'none';
  const reprobe = o.reprobe?.class ?? 'none';
  const replicas = replicaFacts(o.replicas);
  const host = hostFact(o.host);
  const secondary = secondaryFact(o.secondary);
  const managers = managerFacts(o.managers ?? []);
  const managerGreeted = tcp === 'greeting' || tcp === 'error-greeting';
  const seenAliveElsewhere = replicas.hears.length > 0 || host === 'mysqld-answers' || secondary === 'greeting' || managers.reaching.length > 0;
  const queriesTimeOut = TIMEOUTISH.includes(o.ping.class) && (reprobe === 'none' || TIMEOUTISH.includes(reprobe as PingClass));
  const managerNoTcp =
    tcp === 'unreachable' || (tcp === 'none' && (o.ping.class === 'no-route' || (o.ping.class === 'connect-timeout' && reprobe !== 'ok')));
  return {
    ping: o.ping.class,
    failing,
    failingForMs: failing && o.firstFailureAt !== null ? Math.max(0, o.now - o.firstFailureAt) : 0,
    tcp,
    reprobe,
    replicas,
    host,
    secondary,
    managers,
    seenAliveElsewhere,
    managerGreeted,
    queriesTimeOut,
    managerNoTcp,
  };
}

// ---------------------------------------------------------------------------
// The analysis table. First row whose condition holds wins.

export interface Rule {
  id: string;
  verdict: VerdictKind;
  /** The exact condition, in words (logged with the verdict). */
  because: string;
  when: (f: Facts, p: DetectionParams) => boolean;
}

const ALIVE_ANSWER = (c: PingClass | 'none') => c === 'alive-error';

export const RULES: readonly Rule[] = [
  {
    id: 'ping-ok',
    verdict: 'Healthy',
    because: 'the regular ping was answered',
    when: (f) => !f.failing,
  },
  {
    id: 'alive-errors',
    verdict: 'AliveWithErrors',
    because: 'mysqld answered with an error that proves it alive (too many connections, access denied, host blocked, read-only, ...)',
    when: (f) => ALIVE_ANSWER(f.ping) || ALIVE_ANSWER(f.reprobe) || f.tcp === 'error-greeting',
  },
  {
    id: 'reprobe-ok',
    verdict: 'Healthy',
    because: 'the ping failed but a fresh connection answered SELECT 1 at once (not a blocked write)',
    when: (f) => f.reprobe === 'ok' && f.ping !== 'write-timeout',
  },
  {
    id: 'commits-blocked',
    verdict: 'CommitsBlocked',
    because: 'the heartbeat write got no answer in time while a fresh connection answered SELECT 1',
    when: (f) => f.ping === 'write-timeout' && f.reprobe === 'ok',
  },
  {
    id: 'replicas-hear-master',
    verdict: 'MasterOverloaded',
    because: 'the manager reaches mysqld (greeting) but its queries get no answer, while a replica, the host or another host still sees mysqld alive',
    when: (f) => f.seenAliveElsewhere && f.managerGreeted,
  },
  {
    id: 'other-manager-reaches',
    verdict: 'UnreachableMaster',
    because: 'this manager cannot reach mysqld, but another manager (heir.ha) reached it after this failure began',
    when: (f) => f.managers.reaching.length > 0,
  },
  {
    id: 'manager-cut-off',
    verdict: 'UnreachableMaster',
    because: 'the manager cannot reach mysqld, but a replica still hears it, the host itself gets its greeting, or another host does',
    when: (f) => f.seenAliveElsewhere,
  },
  {
    id: 'process-stopped',
    verdict: 'HungMaster',
    because: "ssh: mysqld's process is stopped (state T: SIGSTOP or a debugger)",
    when: (f) => f.host === 'mysqld-stopped',
  },
  {
    id: 'mysqld-gone',
    verdict: 'DeadMaster',
    because: 'ssh: the host is up and mysqld is not running or not listening on its port',
    when: (f) => f.host === 'mysqld-dead' && !f.managerGreeted && f.tcp !== 'silent',
  },
  {
    id: 'port-refused',
    verdict: 'DeadMaster',
    because: "the master's port refuses connections (the host's kernel answers, nothing listens), and ssh does not show mysqld running",
    when: (f) =>
      (f.tcp === 'refused' || f.ping === 'refused' || f.reprobe === 'refused' || f.secondary === 'refused') &&
      !f.managerGreeted &&
      f.tcp !== 'silent' &&
      ['disabled', 'not-run', 'host-up-unknown', 'mysqld-dead'].includes(f.host),
  },
  {
    id: 'accepts-but-silent',
    verdict: 'HungMaster',
    because: 'TCP to the port is accepted but mysqld sends nothing (no greeting, or queries time out), as seen by the manager, the host itself or another host',
    when: (f) =>
      f.tcp === 'silent' ||
      f.host === 'mysqld-unresponsive' ||
      f.secondary === 'silent' ||
      (f.managerGreeted && f.queriesTimeOut),
  },
  {
    id: 'host-unreachable',
    verdict: 'DeadMasterHost',
    because:
      "neither the manager's ping nor ssh reach the master's host, and no replica still reports a connection to it whose silence is not yet conclusive (or other hosts cannot reach it either)",
    when: (f) => f.host === 'host-down' && f.managerNoTcp && !replicasPending(f),
  },
  {
    id: 'unreachable-no-ssh',
    verdict: 'DeadMasterHost',
    because:
      'the manager cannot reach the host, ssh gives no answer either way, and replicas, other hosts or other managers lost it too (or the failure outlasted suspect_timeout_ms)',
    when: (f, p) =>
      f.managerNoTcp &&
      ['disabled', 'not-run', 'host-up-unknown', 'host-down'].includes(f.host) &&
      !replicasPending(f) &&
      (replicasConfirm(f) || f.secondary === 'unreachable' || f.managers.lost.length > 0 || f.failingForMs >= p.suspectTimeoutMs),
  },
  {
    id: 'unexplained',
    verdict: 'Suspect',
    because: 'the ping failed and the evidence does not yet point one way',
    when: () => true,
  },
];

// ---------------------------------------------------------------------------
// Confirmation: which sources agree with a dead verdict, and may we fail over.

/**
 * Replicas agree the master is gone: none hears it, at least one lost it (or has been
 * silent for two heartbeat periods), and none still reports a live-looking connection
 * whose silence is not yet conclusive. Stopped, broken and unreadable replicas say nothing.
 */
export function replicasConfirm(f: Facts): boolean {
  const r = f.replicas;
  if (r.hears.length > 0) return false;
  if (r.lost.length + r.silentConclusive.length === 0) return false;
  return r.silentInconclusive.length === 0;
}

/**
 * Replicas that still report a connection to the master (IO Yes) but cannot yet tell
 * whether it is alive hold back a host-down verdict — that is exactly what a manager cut
 * off from a healthy, idle master looks like — unless other hosts confirm they cannot
 * reach the master either (secondary checks).
 */
export function replicasPending(f: Facts): boolean {
  return f.replicas.silentInconclusive.length > 0 && f.secondary !== 'unreachable';
}

export function confirmingSources(f: Facts, kind: VerdictKind): Source[] {
  const out: Source[] = [];
  if (f.failing && !ALIVE_ANSWER(f.ping) && f.reprobe !== 'ok' && !ALIVE_ANSWER(f.reprobe)) out.push('manager');
  if (replicasConfirm(f)) out.push('replicas');
  // ssh counts as a source of its own only when it ran on the host and looked. ssh that
  // cannot connect travels the manager's own network path: in a partition it fails
  // together with the ping, so for DeadMasterHost it adds nothing independent.
  const hostAgrees =
    (kind === 'DeadMaster' && f.host === 'mysqld-dead') ||
    (kind === 'HungMaster' && (f.host === 'mysqld-stopped' || f.host === 'mysqld-unresponsive'));
  if (hostAgrees) out.push('ssh');
  const secondaryAgrees =
    (kind === 'DeadMaster' && (f.secondary === 'refused' || f.secondary === 'unreachable')) ||
    (kind === 'HungMaster' && f.secondary === 'silent') ||
    (kind === 'DeadMasterHost' && (f.secondary === 'unreachable' || f.secondary === 'refused'));
  if (secondaryAgrees) out.push('secondary');
  // Another manager (another zone) that cannot reach the master either, and none that does.
  if (DEAD_VERDICTS.includes(kind) && f.managers.lost.length > 0 && f.managers.reaching.length === 0) out.push('managers');
  return out;
}

/** Who saw the master alive after the failure began, in words (empty when nobody did). */
export function aliveWitnesses(f: Facts): string[] {
  const out: string[] = [];
  if (f.replicas.hears.length) out.push(`replica${f.replicas.hears.length > 1 ? 's' : ''} ${f.replicas.hears.join(', ')} still hear${f.replicas.hears.length > 1 ? '' : 's'} it`);
  if (f.host === 'mysqld-answers') out.push("mysqld answers on the master's host (ssh)");
  if (f.secondary === 'greeting') out.push('another host gets its greeting (secondary check)');
  for (const s of f.managers.sights) if (s.status === 'reaches') out.push(`manager ${s.detail}`);
  return out;
}

/** Every replica of the master has its IO thread disconnected from it with an error. */
export function everyReplicaLost(f: Facts): boolean {
  const r = f.replicas;
  return r.total.length > 0 && r.lostWithError.length === r.total.length;
}

export function decideFailover(f: Facts, kind: VerdictKind, p: DetectionParams): { allowed: boolean; confirmedBy: Source[]; reason: string } {
  const confirmedBy = confirmingSources(f, kind);
  if (kind === 'Healthy') return { allowed: false, confirmedBy: [], reason: 'master is healthy' };
  if (kind === 'Suspect') {
    const why = replicasPending(f)
      ? `replica(s) ${f.replicas.silentInconclusive.join(', ')} still report a connection to the master and cannot tell yet`
      : 'not enough evidence either way yet';
    return { allowed: false, confirmedBy, reason: `corroboration under way: ${why}` };
  }
  if (kind === 'UnreachableMaster' || kind === 'MasterOverloaded' || kind === 'AliveWithErrors' || kind === 'CommitsBlocked') {
    const seen = aliveWitnesses(f);
    return {
      allowed: false,
      confirmedBy: [],
      reason: `${kind}: mysqld is alive${seen.length ? ` (${seen.join('; ')})` : ''}; failing over a live master would split the cluster (alert only)`,
    };
  }
  // A dead verdict.
  if (f.seenAliveElsewhere) return { allowed: false, confirmedBy, reason: `the master is seen alive elsewhere: ${aliveWitnesses(f).join('; ')}` };
  if (kind === 'HungMaster' && f.failingForMs < p.suspectTimeoutMs) {
    return {
      allowed: false,
      confirmedBy,
      reason: `hung for ${f.failingForMs} ms; a hung master counts as dead after suspect_timeout_ms (${p.suspectTimeoutMs} ms)`,
    };
  }
  if (kind === 'DeadMasterHost' && replicasPending(f)) {
    return {
      allowed: false,
      confirmedBy,
      reason:
        `replica(s) ${f.replicas.silentInconclusive.join(', ')} still report a connection to the master (IO Yes) and their silence is not yet ` +
        'conclusive; waiting until they lose it (replica_net_timeout / heartbeat period) or a secondary check confirms',
    };
  }
  const lostAll = everyReplicaLost(f);
  if (confirmedBy.length >= p.minSources || lostAll) {
    const how = lostAll && confirmedBy.length < p.minSources ? 'every replica lost its connection to the master with an error' : `${confirmedBy.length} of min_sources ${p.minSources} sources agree`;
    return { allowed: true, confirmedBy, reason: `${kind} confirmed by ${confirmedBy.join(', ') || 'replicas'} (${how})` };
  }
  return {
    allowed: false,
    confirmedBy,
    reason: `${kind} seen by ${confirmedBy.join(', ') || 'no source'}; ${p.minSources} independent sources (min_sources) must agree, or every replica must lose the master`,
  };
}

// ---------------------------------------------------------------------------
// Evidence: every observation, in words, with what it points to.

function pingText(p: PingObservation): string {
  const what = p.mode === 'reprobe' ? 'fresh connection + SELECT 1' : `${p.mode} ping`;
  if (p.class === 'ok') return `${what} answered in ${p.latencyMs} ms`;
  const code = p.code ? ` [${p.code}${p.errno ? ` ${p.errno}` : ''}]` : '';
  return `${what} failed after ${p.latencyMs} ms: ${p.class}${code}${p.message ? `: ${p.message}` : ''}`;
}

function pingPoints(c: PingClass): Evidence['points'] {
  switch (c) {
    case 'ok':
    case 'alive-error':
      return 'alive';
    case 'refused':
    case 'shutting-down':
      return 'dead';
    case 'no-route':
      return 'host-down';
    case 'query-timeout':
    case 'write-timeout':
      return 'hung';
    default:
      return 'unknown';
  }
}

const TCP_POINTS: Record<TcpProbeResult, Evidence['points']> = {
  greeting: 'alive',
  'error-greeting': 'alive',
  silent: 'hung',
  refused: 'dead',
  unreachable: 'host-down',
};

const HOST_POINTS: Record<HostFact, Evidence['points']> = {
  disabled: 'unknown',
  'not-run': 'unknown',
  'host-down': 'host-down',
  'host-up-unknown': 'unknown',
  'mysqld-dead': 'dead',
  'mysqld-stopped': 'hung',
  'mysqld-unresponsive': 'hung',
  'mysqld-answers': 'alive',
};

const SIGHT_POINTS: Record<ReplicaSight['status'], Evidence['points']> = {
  hears: 'alive',
  lost: 'dead',
  silent: 'unknown',
  stopped: 'unknown',
  broken: 'unknown',
  unreadable: 'unknown',
  elsewhere: 'unknown',
  stale: 'unknown',
};

function hostText(h: HostCheck): string {
  if (!h.ran) return `ssh check did not run: ${h.sshError?.kind ?? '?'}${h.sshError?.code ? ` ${h.sshError.code}` : ''}: ${h.sshError?.message ?? ''}`;
  const proc = h.pid ? `mysqld pid ${h.pid} state ${h.processState ?? 'gone'}${h.comm ? ` (${h.comm})` : ''}` : 'no mysqld process found';
  const listen = h.listening === true ? 'port listening' : h.listening === false ? 'port not listening' : 'listening unknown';
  return `${proc}; ${listen}; local probe: ${h.local ?? 'not run'}`;
}

export function collectEvidence(o: Observations): Evidence[] {
  const ev: Evidence[] = [];
  ev.push({ source: 'manager', subject: 'manager', at: o.ping.at, observation: pingText(o.ping), points: pingPoints(o.ping.class) });
  if (o.tcp) {
    ev.push({
      source: 'manager',
      subject: 'manager',
      at: o.tcp.at,
      observation: `TCP probe of ${o.master}: ${o.tcp.result}${o.tcp.errno ? ` (error ${o.tcp.errno})` : ''}${o.tcp.detail ? `: ${o.tcp.detail}` : ''}`,
      points: TCP_POINTS[o.tcp.result],
    });
  }
  if (o.reprobe) ev.push({ source: 'manager', subject: 'manager', at: o.reprobe.at, observation: pingText(o.reprobe), points: pingPoints(o.reprobe.class) });
  for (const s of o.replicas) ev.push({ source: 'replicas', subject: s.name, at: s.at, observation: `${s.status}: ${s.detail}`, points: SIGHT_POINTS[s.status] });
  if (o.host) ev.push({ source: 'ssh', subject: o.master, at: o.host.at, observation: hostText(o.host), points: HOST_POINTS[hostFact(o.host)] });
  for (const c of o.secondary) {
    const text = c.ran ? `probe of ${o.master}'s port from ${c.from}: ${c.result}${c.detail ? ` (${c.detail})` : ''}` : `secondary check from ${c.from} did not run: ${c.sshError?.message ?? ''}`;
    const points = c.ran && c.result ? TCP_POINTS[c.result] : 'unknown';
    ev.push({ source: 'secondary', subject: c.from, at: c.at, observation: text, points });
  }
  for (const m of o.managers ?? []) {
    const points = m.status === 'reaches' ? 'alive' : m.status === 'lost' ? (m.verdict === 'HungMaster' ? 'hung' : 'dead') : 'unknown';
    ev.push({ source: 'managers', subject: m.manager, at: m.at, observation: `${m.status}: ${m.detail}`, points });
  }
  return ev;
}

// ---------------------------------------------------------------------------

export function matchRule(f: Facts, p: DetectionParams): Rule {
  return RULES.find((r) => r.when(f, p))!;
}

/**
 * The analysis: observations → verdict with evidence and failover permission. A round whose
 * regular ping answered is Healthy by the table's first row whatever else is known, so its
 * facts are not derived: every healthy round of every cluster comes through here.
 */
export function analyze(o: Observations, p: DetectionParams): Verdict {
  if (o.ping.class === 'ok') return answered(o);
  return analyzeByTable(o, p);
}

const PING_OK = RULES[0]!;

/** The verdict of a round whose ping answered: what analyzeByTable gives, without the facts. */
function answered(o: Observations): Verdict {
  return {
    kind: PING_OK.verdict,
    cluster: o.cluster,
    master: o.master,
    at: o.now,
    rule: PING_OK.id,
    because: PING_OK.because,
    evidence: collectEvidence(o),
    confirmedBy: [],
    failoverAllowed: false,
    reason: 'master is healthy',
    failingForMs: 0,
    received: receivedOf(o),
  };
}

/** What each replica had received from the master at its latest read. */
function receivedOf(o: Observations): Verdict['received'] {
  const received: Verdict['received'] = {};
  for (const s of o.replicas) if (s.received) received[s.name] = s.received;
  return received;
}

/** The analysis through the facts and the rule table, for any round. */
export function analyzeByTable(o: Observations, p: DetectionParams): Verdict {
  const f = deriveFacts(o);
  const received = receivedOf(o);
  const rule = matchRule(f, p);
  const decision = decideFailover(f, rule.verdict, p);
  // Hold: a dead verdict that is not (yet) confirmed while the first round of
  // corroboration is still coming in is reported as Suspect, not half-formed.
  const pending = o.pending ?? [];
  // Another manager that reached the master before this failure began and has not spoken
  // since might still reach it: a dead verdict waits for its next view (at most until that
  // view is stale), confirmed or not.
  if (DEAD_VERDICTS.includes(rule.verdict) && f.managers.awaited.length > 0) {
    return {
      kind: 'Suspect',
      cluster: o.cluster,
      master: o.master,
      at: o.now,
      rule: 'awaiting-manager-views',
      because: `the evidence points to ${rule.verdict} (${rule.id}), but another manager reached the master before this failure began and has not published a view since`,
      evidence: collectEvidence(o),
      confirmedBy: decision.confirmedBy,
      failoverAllowed: false,
      reason: `looks like ${rule.verdict}; waiting for the next view of ${f.managers.awaited.join(', ')}`,
      failingForMs: f.failingForMs,
      received,
    };
  }
  if (DEAD_VERDICTS.includes(rule.verdict) && !decision.allowed && pending.length > 0) {
    return {
      kind: 'Suspect',
      cluster: o.cluster,
      master: o.master,
      at: o.now,
      rule: 'awaiting-corroboration',
      because: `the evidence so far points to ${rule.verdict} (${rule.id}), not yet confirmed, and corroboration is still coming in`,
      evidence: collectEvidence(o),
      confirmedBy: decision.confirmedBy,
      failoverAllowed: false,
      reason: `looks like ${rule.verdict}; waiting for ${pending.join(', ')}`,
      failingForMs: f.failingForMs,
      received,
    };
  }
  return {
    kind: rule.verdict,
    cluster: o.cluster,
    master: o.master,
    at: o.now,
    rule: rule.id,
    because: rule.because,
    evidence: collectEvidence(o),
    confirmedBy: decision.confirmedBy,
    failoverAllowed: decision.allowed,
    reason: decision.reason,
    failingForMs: f.failingForMs,
    received,
  };
}

/**
 * The failover planner (pure): from a topology snapshot, the cluster config and
 * the name of the dead master, decide who becomes the new master and list the
 * steps that get it there. No I/O: the same facts always give the same plan,
 * and every node's verdict carries the reason, so a dry run shows exactly what
 * an automatic failover would do.
 *
 * The story, in the order the rules apply:
 *  1. Read each survivor's received position (what it could hand on once its
 *     relay log is applied) and everything the survivors received together.
 *  2. Apply the gates (unreachable, binlog off, SQL thread error, lag, version,
 *     errant GTIDs) and the promotion rules; nothing is dropped silently.
 *  3. Sort the survivors with the sorter in elect.ts; the first is the most
 *     advanced ("intermediate source").
 *  4. Pick the winner: a `prefer` node that can be brought level with
 *     everything the survivors received, else the best node that can, else the
 *     best eligible node (what it cannot obtain is reported as possibly lost).
 *  5. Work out its catch-ups (sources in order), whom to repoint, and the steps.
 */
import type { ClusterConfig, NodeConfig } from '../config/schema';
import { GtidSet } from '../mysql/gtid';
import { errantFromBinlogStates, gtidListText, MariaGtidPos, parseGtidList } from '../mysql/mariadb-gtid';
import type { HealthyView } from '../monitor/sight';
import type { NodeSnapshot, ServerVersion, TopologySnapshot } from '../mysql/types';
import { compareContenders, type Contender } from './elect';
import {
  channelFrom,
  contains,
  describe,
  executedPosition,
  mariadbRelayLogDiscarded,
  incomparable,
  missing,
  positionMode,
  positionText,
  receivedPosition,
  union,
  unionAll,
  type DeadMasterRef,
  type Position,
  type PositionMode,
} from './positions';
import type { Candidate, CatchUp, Plan, PlannedStep } from './types';

export interface PlanOptions {
  /** Forced target (`heir failover --to NODE`). */
  to?: string;
  /** With `to`: override the soft gates (lag, errant GTIDs, version, never rule) for that node. */
  force?: boolean;
  /**
   * Lag per node as last seen before the master died. Once a replica's IO
   * thread stops (or its source is gone) the server reports no lag, so the
   * monitor's last observation is the one to judge by.
   */
  lagHints?: Record<string, number | null | undefined>;
  /** The monitor's last good read of the master (server_uuid, server_id, executed GTIDs). */
  lastKnownMaster?: NodeSnapshot;
  /**
   * Whether salvage will be attempted. Default: planned when
   * failover.salvage.enabled ("when its host answers SSH").
   */
  salvage?: { possible: boolean; why: string };
  /**
   * What an earlier, unfinished run of this failover (acknowledged) promoted, from its
   * journal: the node, where it became the master in its own binlog, and how far it had
   * applied the dead master's binlog (file/position mode compares the others with that).
   */
  earlier?: EarlierPromotion;
  /**
   * Each replica as the monitor last read it while the master still answered (the daemon
   * knows; a CLI run does not). A replica whose IO thread had been disconnected for
   * several checks holds data of unknown age; one whose lag could not be read cannot pass
   * max_lag_s. Both are soft gates (heir failover --to NODE --force overrides).
   */
  healthy?: Record<string, HealthyView>;
  /**
   * Survivors the executor dropped during this failover (a winner or catch-up source whose
   * relay log could not be applied), with why: never the winner, never a catch-up source,
   * never repointed; what they received counts in no one's target (it is reported lost).
   */
  dropped?: Record<string, string>;
  /**
   * Survivors a catch-up could not fetch from (the winner's receiver stopped on an error from
   * them before it had what they hold, e.g. they purged it from their binlog), with why: no
   * one catches up from them, but they stay candidates: the node that holds the data may
   * win instead of one that cannot get it.
   */
  cannotServe?: Record<string, string>;
}

export interface EarlierPromotion {
  node: string;
  binlog?: { file: string; pos: number };
  fromDead?: { file: string; pos: number };
  /** File/position survivors behind it: where each resumes in its binlog (found before that promotion). */
  levelAt?: Record<string, LevelPoint>;
  /** heir died inside that promote step: the node may be half promoted (replication reset, maybe still read-only). */
  unfinished?: boolean;
  /**
   * The salvage apply of the earlier runs (the newest one's outcome) and, file/position, where
   * the winner's binlog stood when the first of them began: what they applied is counted there.
   */
  salvage?: { outcome: 'ok' | 'failed' | 'skipped' | 'running'; since?: { file: string; pos: number }; detail?: string };
}

/**
 * A survivor behind the winner, located: it received the dead master's binlog up to
 * `received`; once its relay log is applied its applied coordinates lie at or after `from`
 * and before `before`, and it resumes at `at` of the winner's binlog (`count` transactions).
 */
export interface LevelPoint {
  at: { file: string; pos: number };
  from: { file: string; pos: number };
  before?: { file: string; pos: number };
  /** Absent in journals of earlier versions: a rerun does not keep such a point (the node is dropped). */
  received?: { file: string; pos: number };
  count: number;
}

/** The reachable node `name` when it is read-only and replicates from no one: a promotion cut short after its reset. */
function halfPromoted(reachable: Facts[], name: string): Facts | undefined {
  const f = reachable.find((x) => x.cfg.name === name);
  return f && f.snap!.readOnly !== false && f.snap!.replication.length === 0 ? f : undefined;
}

/** Reasons that --force cannot override: the node cannot work as a master at all. */
const HARD_GATE = /^(unreachable|dropped during the failover|gate: binlog off|gate: SQL thread error|gate: log_replica_updates off|gate: not replicating from)/;

interface Facts {
  cfg: NodeConfig;
  snap: NodeSnapshot | undefined;
  reachable: boolean;
  received?: Position;
  executed?: Position;
  lagS: number | null;
  sqlError?: { errno: number; message: string };
  errant: string;
  gates: string[];
  warnings: string[];
  canServe: boolean;
  whyCannotServe: string;
}

function series(v: ServerVersion): number {
  return v.major * 1000 + v.minor;
}

function seriesText(v: ServerVersion): string {
  return `${v.major}.${v.minor}`;
}

function shorten(s: string, n = 80): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
}

/**
 * Errant transactions of a survivor: what it executed that no other survivor
 * received and that did not come from the dead master. Returns null when it
 * cannot be judged (a lone survivor with no record of the master's GTIDs).
 */
export function findErrant(
  mode: PositionMode,
  n: NodeSnapshot,
  others: NodeSnapshot[],
  dead: { uuid?: string; serverId?: number; executed?: string; binlogState?: string },
  deadRef: DeadMasterRef,
): string | null {
  if (mode === 'file') return null;
  if (others.length === 0 && !dead.executed) return null;
  if (mode === 'mysql-gtid') {
    let cand = GtidSet.parse(n.executedGtid ?? '');
    for (const o of others) {
      const r = receivedPosition(mode, o, deadRef);
      if (r.mode === 'mysql-gtid') cand = cand.subtract(r.set);
    }
    if (dead.executed) cand = cand.subtract(GtidSet.parse(dead.executed));
    // Newer transactions of the dead master can legitimately be on this node only.
    if (dead.uuid) return cand.onlyUuid(dead.uuid, { exclude: true }).toString();
    // Without the master's identity, only the node's own writes are surely errant.
    return n.serverUuid ? cand.onlyUuid(n.serverUuid).toString() : '';
  }
  // MariaDB, with binlog states: a (domain, own server_id) entry no other server's binlog
  // holds as far (a local write stays there when replicated ones follow in its domain).
  const ownState = parseGtidList(n.mariadb?.binlogState ?? '');
  if (n.mariadb?.binlogState !== undefined && ownState && n.serverId !== undefined) {
    const states = [...others.map((o) => o.mariadb?.binlogState), dead.binlogState]
      .filter((x): x is string => x !== undefined)
      .map((x) => parseGtidList(x))
      .filter((x): x is NonNullable<typeof x> => !!x);
    if (states.length > 0) {
      if (dead.serverId !== undefined && n.serverId === dead.serverId) return '';
      return gtidListText(errantFromBinlogStates(ownState, n.serverId, states));
    }
  }
  // MariaDB: per domain, a GTID written by this node itself that nobody else has.
  const own = MariaGtidPos.parse(n.mariadb?.binlogPos ?? n.executedGtid ?? '');
  let rest = MariaGtidPos.empty();
  for (const o of others) {
    const r = receivedPosition(mode, o, deadRef);
    if (r.mode === 'mariadb-gtid') rest = rest.max(r.pos);
  }
  if (dead.executed) rest = rest.max(MariaGtidPos.parse(dead.executed));
  const errant: string[] = [];
  for (const e of own.entries()) {
    if (n.serverId === undefined || e.server !== n.serverId) continue;
    if (dead.serverId !== undefined && e.server === dead.serverId) continue;
    const theirs = rest.get(e.domain);
    if (!theirs || theirs.seq < e.seq) errant.push(`${e.domain}-${e.server}-${e.seq}`);
  }
  return errant.join(',');
}

export function planFailover(snapshot: TopologySnapshot, cluster: ClusterConfig, deadMaster: string, opts: PlanOptions = {}): Plan {
  const fo = cluster.failover;
  const deadCfg = cluster.nodes.find((n) => n.name === deadMaster);
  const base: Plan = {
    cluster: cluster.name,
    deadMaster,
    mode: 'file',
    snapshotAt: snapshot.takenAt,
    winner: null,
    noWinnerReasons: [],
    candidates: [],
    mostAdvanced: null,
    target: '',
    incomparable: [],
    catchUp: [],
    unobtainable: [],
    repoint: [],
    levelUp: [],
    leftOut: [],
    warnings: [],
    steps: [],
  };
  if (!deadCfg) {
    base.noWinnerReasons.push(
      `'${deadMaster}' is not a node of cluster ${cluster.name} (nodes: ${cluster.nodes.map((n) => n.name).join(', ')})`,
    );
    return base;
  }
  const deadSnap = snapshot.nodes.find((n) => n.name === deadMaster);
  const last = opts.lastKnownMaster;
  const deadRef: DeadMasterRef = {
    host: deadCfg.host,
    port: deadCfg.port,
    serverId: deadSnap?.serverId ?? last?.serverId,
  };

  // 1. Positions. The mode follows the survivors: all GTID or fall back to file/position.
  const survivorsCfg = cluster.nodes.filter((n) => n.name !== deadMaster);
  const snapOf = (name: string) => snapshot.nodes.find((n) => n.name === name);
  const reachableSnaps = survivorsCfg.map((c) => snapOf(c.name)).filter((s): s is NodeSnapshot => !!s && s.reachable);
  const mode = positionMode(reachableSnaps);
  base.mode = mode;

  const facts = new Map<string, Facts>();
  for (const cfg of survivorsCfg) {
    const snap = snapOf(cfg.name);
    const f: Facts = {
      cfg,
      snap,
      reachable: !!snap?.reachable,
      lagS: null,
      errant: '',
      gates: [],
      warnings: [],
      canServe: false,
      whyCannotServe: '',
    };
    facts.set(cfg.name, f);
    if (!snap || !snap.reachable) {
      f.gates.push(`unreachable${snap?.error ? `: ${shorten(snap.error.message)}` : ': not in the snapshot'}`);
      f.whyCannotServe = 'unreachable';
      continue;
    }
    f.received = receivedPosition(mode, snap, deadRef);
    f.executed = executedPosition(mode, snap, deadRef);
    const ch = channelFrom(snap, deadRef) ?? snap.replication[0];
    f.lagS = ch?.secondsBehind ?? opts.lagHints?.[cfg.name] ?? opts.healthy?.[cfg.name]?.lagS ?? null;
    const err = snap.replication.find((c) => c.lastSqlErrno !== 0);
    if (err) f.sqlError = { errno: err.lastSqlErrno, message: err.lastSqlError };
  }
  const reachable = [...facts.values()].filter((f) => f.reachable);
  const droppedWhy = (f: Facts): string | undefined => opts.dropped?.[f.cfg.name];
  const target = unionAll(
    mode,
    reachable.filter((f) => droppedWhy(f) === undefined).map((f) => f.received!),
  );
  base.target = positionText(target);

  // 2. Gates and rules. Each gate adds its reason; none removes a node silently.
  const oldest = reachable.reduce<ServerVersion | undefined>(
    (o, f) => (f.snap?.version && (!o || series(f.snap.version) < series(o)) ? f.snap.version : o),
    undefined,
  );
  const allLevel = reachable.every((f) => contains(f.received!, target));
  for (const f of reachable) {
    const s = f.snap!;
    const others = reachable.filter((o) => o !== f).map((o) => o.snap!);
    const dropped = droppedWhy(f);
    if (dropped !== undefined) f.gates.push(`dropped during the failover: ${dropped}`);
    if (s.logBin === false) f.gates.push('gate: binlog off');
    if (s.logBin !== false && s.logReplicaUpdates === false && !allLevel) {
      f.gates.push('gate: log_replica_updates off (survivors behind it could not fetch from its binlog)');
    }
    if (f.sqlError) f.gates.push(`gate: SQL thread error ${f.sqlError.errno}: ${shorten(f.sqlError.message)}`);
    if (mode === 'file' && !channelFrom(s, deadRef)) {
      f.gates.push(`gate: not replicating from the dead master ${deadMaster} (file/position mode compares read coordinates in its binlog)`);
    }
    if (f.lagS !== null && f.lagS > fo.max_lag_s) f.gates.push(`gate: lag ${f.lagS}s > max_lag_s ${fo.max_lag_s}`);
    const seen = opts.healthy?.[f.cfg.name];
    if (seen && !seen.connected && seen.disconnectedChecks >= 2) {
      f.gates.push(
        `gate: stale: its IO thread was not connected to ${deadMaster} in the last ${seen.disconnectedChecks} checks while ${deadMaster} still answered ` +
          `(last at ${new Date(seen.at).toISOString()}): what it holds may be arbitrarily old`,
      );
    } else if (seen && seen.connected && f.lagS === null) {
      f.gates.push(`gate: lag unknown: no Seconds_Behind_Source at the last check while ${deadMaster} still answered (SQL thread stopped?), so max_lag_s ${fo.max_lag_s} cannot be checked`);
    }
    if (s.version && oldest && series(s.version) > series(oldest)) {
      const who = reachable.filter((o) => o.snap?.version && series(o.snap.version) === series(oldest)).map((o) => o.cfg.name);
      f.gates.push(`gate: version ${seriesText(s.version)} newer than oldest replica ${seriesText(oldest)} (${who.join(', ')})`);
    }
    const errant = findErrant(
      mode,
      s,
      others,
      { uuid: deadSnap?.serverUuid ?? last?.serverUuid, serverId: deadRef.serverId, executed: last?.executedGtid, binlogState: (deadSnap?.reachable ? deadSnap : last)?.mariadb?.binlogState },
      deadRef,
    );
    if (errant === null) {
      if (mode !== 'file') f.warnings.push('errant GTIDs not checked: no other survivor and no last known GTID set of the master');
    } else if (errant !== '') {
      f.errant = errant;
      if (fo.errant_gtids === 'block') f.gates.push(`gate: errant GTIDs ${errant} (errant_gtids: block)`);
      else f.warnings.push(`errant GTIDs ${errant} (errant_gtids: warn)`);
    }
    if (mode === 'mariadb-gtid' && mariadbRelayLogDiscarded(s) && s.mariadb?.ioPos && !(f.executed!.mode === 'mariadb-gtid' && f.executed!.pos.contains(MariaGtidPos.parse(s.mariadb.ioPos)))) {
      f.warnings.push(`relay log not counted: both threads stopped with GTID positioning, so MariaDB deletes it at START SLAVE; what it held beyond ${s.mariadb.slavePos || 'gtid_slave_pos'} (up to ${s.mariadb.ioPos}) comes from another node or is lost`);
    } else if (!f.sqlError && s.replication.some((c) => !c.sqlRunning)) {
      f.warnings.push('SQL thread stopped: heir starts it to apply the relay log');
    }
    if (s.replication.length === 0 && s.readOnly === false) {
      f.warnings.push('writable and not replicating: a previous failover may have promoted it already');
    }
    // A catch-up source serves from its binlog what it has applied.
    if (dropped !== undefined) f.whyCannotServe = `dropped during the failover (${dropped})`;
    else if (opts.cannotServe?.[f.cfg.name] !== undefined) f.whyCannotServe = `a catch-up from it failed (${opts.cannotServe[f.cfg.name]})`;
    else if (mode === 'file' && !channelFrom(s, deadRef)?.exec) f.whyCannotServe = 'not replicating from the dead master: nothing locates its transactions in its binlog';
    else if (s.logBin === false) f.whyCannotServe = 'binlog off';
    else if (s.logReplicaUpdates === false) f.whyCannotServe = 'log_replica_updates off';
    else if (f.sqlError) f.whyCannotServe = `SQL thread error ${f.sqlError.errno} (relay log cannot be applied)`;
    else if (f.errant && fo.errant_gtids === 'block') f.whyCannotServe = 'errant GTIDs (would spread them)';
    f.canServe = f.whyCannotServe === '';
  }

  // 3. Sort: the sorter over plain data; the first is the most advanced.
  const contender = (f: Facts): Contender => ({
    name: f.cfg.name,
    promotion: f.cfg.promotion,
    received: f.received!,
    lagS: f.lagS,
  });
  const sorted = [...reachable].sort((a, b) => compareContenders(contender(a), contender(b)));
  base.mostAdvanced = sorted[0]?.cfg.name ?? null;
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i + 1; j < sorted.length; j++) {
      const a = sorted[i];
      const b = sorted[j];
      if (incomparable(a.received!, b.received!)) {
        base.incomparable.push({
          a: a.cfg.name,
          b: b.cfg.name,
          aLacks: missing(a.received!, b.received!),
          bLacks: missing(b.received!, a.received!),
        });
      }
    }
  }
  if (base.incomparable.length > 0) {
    base.warnings.push(
      `positions are incomparable (${base.incomparable.map((p) => `${p.a}/${p.b}`).join(', ')}): ` +
        'no survivor has everything; the winner catches up from each source in turn',
    );
  }

  // What a node could reach: its own received position plus what the others can serve.
  const reach = (f: Facts): Position => {
    let p = f.received!;
    for (const o of sorted) if (o !== f && o.canServe) p = union(p, o.received!);
    return p;
  };
  const level = (f: Facts) => contains(reach(f), target);
  const isNever = (f: Facts) => f.cfg.promotion === 'never';
  const eligible = (f: Facts) => f.reachable && !isNever(f) && f.gates.length === 0;

  // 4. The winner.
  let winner: Facts | undefined;
  let adopted = false;
  const forcedNotes: string[] = [];
  if (opts.to) {
    const f = facts.get(opts.to);
    if (opts.to === deadMaster) {
      base.noWinnerReasons.push(`--to ${opts.to}: that is the dead master`);
    } else if (!f) {
      base.noWinnerReasons.push(`--to ${opts.to}: not a node of cluster ${cluster.name}`);
    } else if (!f.reachable) {
      base.noWinnerReasons.push(`--to ${opts.to}: ${f.gates.join('; ')}`);
    } else {
      const hard = f.gates.filter((g) => HARD_GATE.test(g));
      const soft = [...f.gates.filter((g) => !HARD_GATE.test(g)), ...(isNever(f) ? ['never rule (promotion: never)'] : [])];
      if (hard.length > 0) {
        base.noWinnerReasons.push(`--to ${opts.to}: ${hard.join('; ')} (cannot be overridden)`);
      } else if (soft.length > 0 && !opts.force) {
        base.noWinnerReasons.push(`--to ${opts.to}: ${soft.join('; ')} (add --force to override)`);
      } else if (!level(f) && !opts.force) {
        base.noWinnerReasons.push(
          `--to ${opts.to}: cannot be brought level with what the survivors received (lacks ${missing(reach(f), target)}) ` +
            '(add --force to promote it anyway and lose those transactions)',
        );
      } else {
        winner = f;
        for (const g of soft) forcedNotes.push(`overridden by --force: ${g}`);
      }
    }
  } else {
    const pool = sorted.filter(eligible);
    // A survivor that is already a master (writable, replicating from no one) was promoted
    // by an earlier run of this failover that did not finish (or by a person): it stays the
    // master; electing another would make a second one. Two such survivors: a person decides.
    const promoted = reachable.filter((f) => f.snap!.readOnly === false && f.snap!.replication.length === 0);
    if (promoted.length > 1) {
      base.noWinnerReasons.push(
        `several survivors are writable and replicate from no one (${promoted.map((f) => f.cfg.name).join(', ')}): each may have taken writes; decide which is the master, make the others read-only, then run heir failover --to NODE`,
      );
    } else if (promoted.length === 1 && opts.earlier?.node === promoted[0]!.cfg.name) {
      // The journal says so: it is the master whatever its (reset) positions look like.
      winner = promoted[0]!;
      adopted = true;
      if (mode === 'file' && opts.earlier.fromDead) winner.received = { mode: 'file', coords: opts.earlier.fromDead };
    } else if (promoted.length === 0 && opts.earlier?.unfinished && halfPromoted(reachable, opts.earlier.node)) {
      // heir died inside the earlier run's promote, after its RESET REPLICA ALL: the node
      // no longer shows where it stood, but it was elected and drained; it stays the winner
      // (the promote step finishes it), never a second one elected beside it.
      winner = halfPromoted(reachable, opts.earlier.node)!;
      adopted = true;
      if (mode === 'file' && opts.earlier.fromDead) winner.received = { mode: 'file', coords: opts.earlier.fromDead };
    } else if (promoted.length === 1 && eligible(promoted[0]!) && level(promoted[0]!)) {
      winner = promoted[0]!;
      adopted = true;
    } else if (promoted.length === 1) {
      // Writable with nothing to show it is level (file/position: its coordinates were reset)
      // and no journal naming it: electing another would make a second master.
      const f = promoted[0]!;
      base.noWinnerReasons.push(
        `${f.cfg.name} is writable and replicates from no one, and no journal of an earlier run of this failover says it was promoted there` +
          `${f.gates.length ? ` (${f.gates.join('; ')})` : ''}: it may have taken writes; decide: make it read-only and run heir failover again, or keep it as the master and bring the others to it (heir rejoin --node NODE)`,
      );
    }
    winner ??=
      promoted.length > 0
        ? undefined
        : mode === 'file'
          ? // File/position: a catch-up depends on relay logs that may be purged; a node level by
            // itself wins before one that needs it (the catch-up serves when only gated or never
            // nodes read furthest).
            (pool.find((f) => f.cfg.promotion === 'prefer' && contains(f.received!, target)) ??
            pool.find((f) => contains(f.received!, target)) ??
            pool.find((f) => f.cfg.promotion === 'prefer' && level(f)) ??
            pool.find((f) => level(f)) ??
            pool[0])
          : (pool.find((f) => f.cfg.promotion === 'prefer' && level(f)) ?? pool.find((f) => level(f)) ?? pool[0]);
    if (!winner && promoted.length === 0) {
      if (reachable.length === 0) base.noWinnerReasons.push('no survivor is reachable');
      else base.noWinnerReasons.push('every reachable survivor is gated or has promotion: never (see candidates)');
    }
  }

  // 5. Catch-ups, unobtainable transactions, repoint list.
  if (winner) {
    base.winner = winner.cfg.name;
    winner.warnings.push(...forcedNotes);
    let have = winner.received!;
    for (const s of sorted) {
      if (s === winner || !s.canServe || contains(have, s.received!)) continue;
      // File/position: the source's binlog serves the winner from where the winner stopped
      // (located by counting in the source's relay log). A master an earlier run promoted has
      // a binlog the survivors are pointed into already: nothing is fetched into it.
      if (mode === 'file' && adopted) continue;
      base.catchUp.push({ from: s.cfg.name, brings: missing(have, s.received!), until: positionText(s.received!) } satisfies CatchUp);
      have = union(have, s.received!);
    }
    for (const f of reachable) {
      if (f === winner || contains(have, f.received!)) continue;
      base.unobtainable.push({
        node: f.cfg.name,
        transactions: missing(have, f.received!),
        why: f.whyCannotServe || 'cannot serve',
      });
    }
    if (base.unobtainable.length > 0) {
      base.warnings.push(
        `the new master will lack transactions that ${base.unobtainable.map((u) => u.node).join(', ')} received ` +
          '(see unobtainable); salvage from the dead master may still recover them',
      );
    }
    for (const f of facts.values()) {
      if (f === winner) continue;
      if (!f.reachable) base.leftOut.push({ node: f.cfg.name, why: 'unreachable: repoint it when it returns (heir rejoin)' });
      else if (droppedWhy(f) !== undefined) base.leftOut.push({ node: f.cfg.name, why: `dropped during the failover: ${droppedWhy(f)}` });
      else if (adopted && f.snap!.replication.some((c) => c.sourceHost === winner!.cfg.host && c.sourcePort === winner!.cfg.port)) {
        base.repoint.push(f.cfg.name); // repointed by the earlier run: kept where it is, verified
      }
      else if (mode === 'file' && !contains(have, f.received!)) {
        base.leftOut.push({ node: f.cfg.name, why: `file/position: it read ${describe(f.received!)}, beyond the winner's ${describe(have)}` });
      } else if (mode === 'file' && contains(f.received!, winner.received!) && !contains(f.received!, have)) {
        // Between the winner and its catch-up source: the winner's binlog holds what it lacks
        // only after the catch-up, where the winner's relay log no longer counts it.
        base.leftOut.push({
          node: f.cfg.name,
          why: `file/position: it read ${describe(f.received!)}, beyond the winner's ${describe(winner.received!)} and short of ${describe(have)} that the winner catches up to: ` +
            'nothing locates it in the new master\'s binlog; rebuild it from the new master',
        });
      } else if (mode === 'file' && f.sqlError && !contains(f.received!, winner.received!) && !(f.received!.mode === 'file' && !f.received!.coords)) {
        // Behind the winner by what it read, it cannot apply its relay log now: it stays where it
        // is, but the level-up locates it by what it received (the report keeps where it
        // resumes), so that once fixed it rejoins there.
        base.levelUp.push(f.cfg.name);
        base.leftOut.push({
          node: f.cfg.name,
          why:
            `file/position: its SQL thread stopped on error ${f.sqlError.errno}, so it cannot apply its relay log; it read less of ${deadMaster}'s binlog than ${winner.cfg.name}, ` +
            `so the level-up locates it in ${winner.cfg.name}'s binlog by what it received; left pointing at the dead master with its relay log: fix the error and START REPLICA so that it applies the relay log, ` +
            `then heir rejoin ${f.cfg.name} resumes it where the level-up placed it`,
        });
      } else if (mode === 'file' && f.sqlError) {
        // Level with the winner by what it read, it cannot apply its relay log, and where its
        // applier stands is not exact (a parallel applier stopped on an error shows its last
        // checkpoint; MySQL refuses to change its source): it stays where it is.
        base.leftOut.push({
          node: f.cfg.name,
          why:
            `file/position: its SQL thread stopped on error ${f.sqlError.errno}, so it cannot apply its relay log and nothing places it in the winner's binlog; ` +
            `left pointing at the dead master with its relay log: fix the error and START REPLICA so that it applies the relay log up to where the new master stood in the dead master's binlog (it then resumes where the new master's binlog stood at promotion), then heir rejoin ${f.cfg.name}`,
        });
      } else if (mode === 'file' && !contains(f.received!, winner.received!)) {
        if (f.received!.mode === 'file' && !f.received!.coords) {
          base.leftOut.push({ node: f.cfg.name, why: `file/position: it does not replicate from the dead master, so nothing says where it stands in the winner's binlog` });
        } else {
          // Behind: it resumes in the winner's binlog where what it lacks begins (level-up step).
          base.repoint.push(f.cfg.name);
          base.levelUp.push(f.cfg.name);
        }
      } else if (mode !== 'file' && !contains(have, f.received!)) {
        base.leftOut.push({ node: f.cfg.name, why: `has transactions the new master will lack (${missing(have, f.received!)})` });
      } else base.repoint.push(f.cfg.name);
    }
  }

  // Candidates, best first, unreachable last.
  const rank = new Map(sorted.map((f, i) => [f.cfg.name, i + 1]));
  const order = [...sorted, ...[...facts.values()].filter((f) => !f.reachable)];
  base.candidates = order.map((f): Candidate => {
    const reasons = [...f.gates];
    if (isNever(f)) reasons.unshift('never rule (promotion: never)');
    let verdict: Candidate['verdict'];
    if (!f.reachable) verdict = 'unreachable';
    else if (f === winner) verdict = 'winner';
    else if (isNever(f)) verdict = 'never';
    else if (f.gates.length > 0) verdict = 'gated';
    else verdict = 'eligible';
    if (f === winner) {
      reasons.length = 0;
      reasons.push(
        adopted
          ? f.snap!.readOnly === false
            ? 'already the master (writable, replicating from no one): an earlier, unfinished run of this failover promoted it'
            : 'half promoted (replication reset, still read-only): heir died inside the promote step of an earlier run of this failover; it finishes the promotion'
          : winnerReason(f, sorted, level(f), opts.to),
      );
    } else if (verdict === 'eligible' && winner) {
      reasons.push(adopted ? `${winner.cfg.name} is kept: it is already the master (see its reason); electing another would make a second one` : loserReason(f, winner, level(f), mode === 'file' && contains(winner.received!, target) && !contains(f.received!, target)));
    }
    return {
      name: f.cfg.name,
      promotion: f.cfg.promotion,
      verdict,
      reasons,
      warnings: f.warnings,
      received: f.received ? positionText(f.received) : '',
      executed: f.executed ? positionText(f.executed) : '',
      lagS: f.lagS,
      lacks: f.received ? missing(f.received, target) : '',
      canServe: f.canServe,
      errant: f.errant,
      rank: rank.get(f.cfg.name) ?? null,
    };
  });

  if (winner) base.steps = planSteps(base, cluster, deadSnap, opts);
  return base;
}

function winnerReason(f: Facts, sorted: Facts[], isLevel: boolean, to: string | undefined): string {
  if (to) return `forced target (--to ${to})`;
  const first = sorted[0];
  const parts: string[] = [];
  if (f === first) parts.push('most advanced');
  else parts.push(`behind the most advanced (${first.cfg.name}), brought level by catch-up`);
  if (f.cfg.promotion === 'prefer') parts.push('promotion: prefer');
  if (!isLevel) parts.push('best eligible, but cannot be brought level (see unobtainable)');
  return parts.join('; ');
}

function loserReason(f: Facts, winner: Facts, isLevel: boolean, needsFileCatchUp = false): string {
  if (!isLevel) return 'cannot be brought level with what the survivors received';
  if (needsFileCatchUp) return `file/position: ${winner.cfg.name} is level by itself, ${f.cfg.name} only after a catch-up (located through relay logs that may be purged), so it ranks after`;
  if (winner.cfg.promotion === 'prefer' && f.cfg.promotion !== 'prefer') return `${winner.cfg.name} has promotion: prefer`;
  return `ranked below ${winner.cfg.name} (received less, or same with a weaker rule, more lag, or later name)`;
}

function planSteps(p: Plan, cluster: ClusterConfig, deadSnap: NodeSnapshot | undefined, opts: PlanOptions): PlannedStep[] {
  const fo = cluster.failover;
  const winner = p.winner!;
  const reachable = p.candidates.filter((c) => c.verdict !== 'unreachable').map((c) => c.name);
  const salvage = opts.salvage ?? {
    possible: fo.salvage.enabled,
    why: fo.salvage.enabled ? `when ${p.deadMaster}'s host answers SSH` : 'failover.salvage.enabled is false',
  };
  const steps: PlannedStep[] = [];
  steps.push({
    name: 'fence',
    why: deadSnap?.reachable
      ? `${p.deadMaster} still answers: make it read-only before anything else, so it takes no write that no replica will receive`
      : `${p.deadMaster} does not answer: nothing to set on it (its address is taken away next)`,
    params: { node: p.deadMaster, setReadOnly: !!deadSnap?.reachable },
  });
  steps.push({
    name: 'fence-address',
    why: `take the address away from ${p.deadMaster} now, while the rest proceeds (runs in the background)`,
    params: { node: p.deadMaster, address: cluster.address.type, stonith: fo.stonith },
  });
  steps.push({
    name: 'freeze',
    why: 'stop every IO thread so that the positions compared below can no longer move',
    params: { nodes: reachable },
  });
  if (salvage.possible) {
    steps.push({
      name: 'salvage-fetch',
      why: `copy the dead master's binlog tail to the manager (${salvage.why}); runs in the background`,
      params: { from: p.deadMaster, mysqlbinlog: fo.salvage.mysqlbinlog, timeoutS: fo.salvage.timeout_s },
    });
  }
  steps.push({
    name: 'reread',
    why: 'read the survivors again with IO threads stopped; the election is redone on these final positions',
    params: { nodes: reachable },
  });
  if (!deadSnap?.reachable && fo.kill_unresponsive_master) {
    steps.push({
      name: 'fence-kill',
      why: `${p.deadMaster} does not answer SQL: kill its mysqld over SSH (when its host answers) before the promotion, so that a hung server cannot resume writable beside the new master (runs in the background)`,
      params: { node: p.deadMaster },
    });
  }
  // File/position: a survivor behind the winner is located in the winner's binlog by what it
  // received (level-up, before the promotion resets the winner's relay log); one level with
  // the winner resumes at the winner's position at promotion. Either applies its relay log in
  // its own repoint, after the promotion, so a slow or held applier there never holds the
  // promotion or the address.
  const drain = [...new Set([winner, ...p.catchUp.map((c) => c.from)])];
  steps.push({
    name: 'drain',
    why: 'never promote or serve with an unapplied relay log: wait until each node applied what it received',
    params: { nodes: drain, timeoutS: fo.apply_timeout_s },
  });
  if (p.levelUp.length > 0) {
    steps.push({
      name: 'level-up',
      why:
        `${p.levelUp.join(', ')} read less of ${p.deadMaster}'s binlog than ${winner}: find, from ${winner}'s relay log and binlog ` +
        `(before a catch-up or the promotion resets them), where in ${winner}'s binlog the transactions each lacks begin, so it resumes there ` +
        `once it has applied its relay log (judged by what it received: its applier is not waited for before the promotion)`,
      params: { nodes: p.levelUp, winner },
    });
  }
  for (const c of p.catchUp) {
    steps.push({
      name: 'catch-up',
      why: `${winner} lacks what ${c.from} received (${c.brings}); replicate it from there before promoting` +
        (p.mode === 'file' ? ` (from where ${c.from}'s relay log locates ${winner}'s last transaction in ${c.from}'s binlog)` : ''),
      params: { node: winner, from: c.from, until: c.until, timeoutS: fo.apply_timeout_s },
    });
  }
  steps.push({
    name: 'promote',
    why: `${winner} becomes the master: replication stopped and reset, read_only off${fo.semi_sync ? ', semi-sync source on' : ''}`,
    params: { node: winner, semiSync: fo.semi_sync },
  });
  if (p.repoint.length > 0) {
    steps.push({
      name: 'repoint',
      why: `every other survivor replicates from ${winner} (alongside salvage-apply and attach: the address does not wait for it)`,
      params: {
        nodes: p.repoint,
        to: winner,
        how:
          p.mode === 'mysql-gtid'
            ? 'GTID auto-position'
            : p.mode === 'mariadb-gtid'
              ? 'MASTER_USE_GTID=slave_pos'
              : `file/position: ${winner}'s binlog position at promotion (each survivor first applies its relay log: it read the same)` +
                (p.levelUp.length ? `; ${p.levelUp.join(', ')} at the positions the level-up step found` : ''),
        semiSync: fo.semi_sync,
      },
    });
    steps.push({
      name: 'verify',
      why: 'both replication threads must run on every repointed survivor',
      params: { nodes: p.repoint },
    });
  }
  if (salvage.possible) {
    steps.push({
      name: 'salvage-apply',
      why: `apply the dead master's transactions that no survivor received, on top of everything else; the repointed survivors receive them through ${winner}'s binlog${fo.semi_sync ? ' (once one survivor is repointed, so semi-sync commits find a replica to acknowledge them)' : ''}`,
      params: { node: winner, from: p.deadMaster, timeoutS: fo.salvage.timeout_s },
    });
  }
  steps.push({
    name: 'attach',
    why: 'the address moves last, once the new master is writable with the salvage applied (repointing the others does not hold it)',
    params: { node: winner, address: cluster.address.type },
  });
  return steps;
}

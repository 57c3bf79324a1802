/**
 * Hooks: the operator's programs around failovers, switchovers and rejoins
 * (cluster.hooks: pre_failover, post_failover, post_switchover, post_rejoin).
 *
 * A hook is an argv list started without a shell, in its own process group, killed
 * (the whole group) after its timeout_s. It gets the JSON document of the operation on
 * standard input (the report; for pre_failover, the plan) and the key facts as HEIR_*
 * environment variables, every one of them always set (empty when unknown):
 *
 *   HEIR_HOOK            pre_failover | post_failover | post_switchover | post_rejoin
 *   HEIR_CLUSTER         the cluster's name
 *   HEIR_OPERATION       failover | switchover | rejoin
 *   HEIR_OPERATION_ID    the operation's id (its report and journal carry it)
 *   HEIR_TRIGGER         failover: auto | manual
 *   HEIR_OUTCOME         the report's outcome (pre_failover: planned)
 *   HEIR_OLD_MASTER, HEIR_OLD_MASTER_HOST, HEIR_OLD_MASTER_PORT
 *   HEIR_NEW_MASTER, HEIR_NEW_MASTER_HOST, HEIR_NEW_MASTER_PORT
 *                        pre_failover: the planned winner; post hooks: the master after the
 *                        operation (empty when none was promoted); rejoin: the master followed
 *   HEIR_NODE, HEIR_NODE_HOST, HEIR_NODE_PORT    rejoin: the node that rejoined
 *   HEIR_FLOATING_IP     the address, when the cluster's address type has one
 *   HEIR_REPORT          the saved report's path (post hooks, when saved)
 *
 * What a hook prints (up to 64 KiB per stream) goes into the report and the log. Post
 * hooks run after the report is written and never change an operation's outcome.
 */
import type { ClusterConfig, HookName } from '../config/schema';
import { silentLogger, type Logger } from '../util/log';
import { runProcess } from '../util/proc';
import { writeJsonAtomic } from './lock';

export interface HookRun {
  hook: HookName;
  command: string[];
  startedAt: string;
  durationMs: number;
  /** Exited 0 within its timeout. */
  ok: boolean;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** One line: how it ended. */
  detail: string;
  stdout: string;
  stderr: string;
}

export interface HookFacts {
  operation: 'failover' | 'switchover' | 'rejoin';
  id?: string;
  trigger?: string;
  outcome?: string;
  oldMaster?: string | null;
  newMaster?: string | null;
  node?: string | null;
  reportPath?: string;
}

const MAX_OUTPUT = 64 * 1024;

/** Every variable a hook is given, documented above; unknown facts are empty strings. */
export const HOOK_ENV_NAMES = [
  'HEIR_HOOK',
  'HEIR_CLUSTER',
  'HEIR_OPERATION',
  'HEIR_OPERATION_ID',
  'HEIR_TRIGGER',
  'HEIR_OUTCOME',
  'HEIR_OLD_MASTER',
  'HEIR_OLD_MASTER_HOST',
  'HEIR_OLD_MASTER_PORT',
  'HEIR_NEW_MASTER',
  'HEIR_NEW_MASTER_HOST',
  'HEIR_NEW_MASTER_PORT',
  'HEIR_NODE',
  'HEIR_NODE_HOST',
  'HEIR_NODE_PORT',
  'HEIR_FLOATING_IP',
  'HEIR_REPORT',
] as const;

/** The hook's environment: the daemon's own, with the HEIR_* facts set (pure). */
export function hookEnv(cluster: ClusterConfig, hook: HookName, f: HookFacts, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const node = (name: string | null | undefined) => cluster.nodes.find((n) => n.name === name);
  const where = (prefix: string, name: string | null | undefined): Record<string, string> => {
    const n = node(name);
    return { [prefix]: name ?? '', [`${prefix}_HOST`]: n?.host ?? '', [`${prefix}_PORT`]: n ? String(n.port) : '' };
  };
  const a = cluster.address;
  const env: NodeJS.ProcessEnv = { ...base };
  for (const k of HOOK_ENV_NAMES) delete env[k];
  return {
    ...env,
    HEIR_HOOK: hook,
    HEIR_CLUSTER: cluster.name,
    HEIR_OPERATION: f.operation,
    HEIR_OPERATION_ID: f.id ?? '',
    HEIR_TRIGGER: f.trigger ?? '',
    HEIR_OUTCOME: f.outcome ?? '',
    ...where('HEIR_OLD_MASTER', f.oldMaster),
    ...where('HEIR_NEW_MASTER', f.newMaster),
    ...where('HEIR_NODE', f.node),
    HEIR_FLOATING_IP: a.type !== 'none' && a.floating_ip ? a.floating_ip : '',
    HEIR_REPORT: f.reportPath ?? '',
  };
}

/**
 * Run the cluster's `hook` with `document` as JSON on stdin; undefined when the hook is not
 * configured. Never throws: a hook that cannot start, fails or times out says so in its run.
 */
export async function runHook(cluster: ClusterConfig, hook: HookName, document: unknown, facts: HookFacts, o: { log?: Logger } = {}): Promise<HookRun | undefined> {
  const h = cluster.hooks[hook];
  if (!h) return undefined;
  const log = (o.log ?? silentLogger).child({ cluster: cluster.name, hook });
  const startedAt = new Date().toISOString();
  log.info({ command: h.command }, `${hook}: running ${h.command.join(' ')}`);
  const r = await runProcess(h.command, {
    env: hookEnv(cluster, hook, facts),
    timeoutMs: h.timeout_s * 1000,
    input: `${JSON.stringify(document)}\n`,
    maxOutputBytes: MAX_OUTPUT,
  });
  const ok = r.code === 0 && !r.timedOut;
  const detail = r.timedOut
    ? `did not finish within hooks.${hook}.timeout_s=${h.timeout_s} s: its process group was killed`
    : r.code === 0
      ? 'exited 0'
      : r.code !== null
        ? `exited ${r.code}`
        : r.signal
          ? `was killed by ${r.signal}`
          : `could not be started: ${r.stderr.trim()} (check hooks.${hook}.command)`;
  const run: HookRun = {
    hook,
    command: h.command,
    startedAt,
    durationMs: r.durationMs,
    ok,
    exitCode: r.code,
    signal: r.signal,
    timedOut: r.timedOut,
    detail: `${hook} ${detail} after ${r.durationMs} ms`,
    stdout: r.stdout + (r.droppedBytes ? `\n[${r.droppedBytes} more bytes of output dropped]` : ''),
    stderr: r.stderr,
  };
  const line = `${run.detail}${r.stderr.trim() ? `; stderr: ${tail(r.stderr)}` : ''}`;
  if (ok) log.info({ durationMs: r.durationMs, stdout: tail(r.stdout) }, line);
  else log.warn({ durationMs: r.durationMs, exitCode: r.code, signal: r.signal, timedOut: r.timedOut, stdout: tail(r.stdout) }, line);
  return run;
}

/** A report that carries its hooks' runs and knows where it is saved. */
export interface HookedReport {
  hooks?: HookRun[];
  reportPath?: string;
  warnings?: string[];
}

/**
 * A post hook after the operation's report: run it with the report on stdin, record its
 * run in the report and save the report again where it was saved. A failing post hook
 * is a warning; the outcome stays as it is.
 */
export async function runPostHook<R extends HookedReport>(
  cluster: ClusterConfig,
  hook: Exclude<HookName, 'pre_failover'>,
  report: R,
  facts: HookFacts,
  o: { log?: Logger } = {},
): Promise<HookRun | undefined> {
  if (!cluster.hooks[hook]) return undefined;
  const run = await runHook(cluster, hook, report, { ...facts, reportPath: report.reportPath }, o);
  if (!run) return undefined;
  (report.hooks ??= []).push(run);
  if (!run.ok) report.warnings?.push(`hook ${run.detail}`);
  if (report.reportPath) {
    try {
      writeJsonAtomic(report.reportPath, report);
    } catch (e) {
      (o.log ?? silentLogger).warn({ err: (e as Error).message }, `${hook}: could not add the hook's run to ${report.reportPath}`);
    }
  }
  return run;
}

/** Terminal lines for a report's hook runs. */
export function formatHooks(runs: HookRun[] | undefined): string[] {
  const out: string[] = [];
  for (const h of runs ?? []) {
    out.push(`  hook ${h.ok ? 'ok  ' : 'FAIL'} ${h.detail}`);
    for (const [name, text] of [['stdout', h.stdout], ['stderr', h.stderr]] as const) {
      if (text.trim()) out.push(`            ${name}: ${tail(text, 300).replace(/\n/g, '\n            ')}`);
    }
  }
  return out;
}

function tail(s: string, n = 600): string {
  const t = s.trim();
  return t.length > n ? `…${t.slice(-n)}` : t;
}

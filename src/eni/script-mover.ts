/**
 * The `script` mover: runs an MHA master_ip_failover script, so existing MHA
 * users keep their scripts. Calling convention as MHA's (0.56–0.58):
 *
 *   fence, old host answers SSH:   --command=stopssh --ssh_user=U --orig_master_host=H --orig_master_ip=IP --orig_master_port=P
 *   fence, old host unreachable:   --command=stop --orig_master_host=H --orig_master_ip=IP --orig_master_port=P
 *   attach:  --command=start --ssh_user=U --orig_master_host=H --orig_master_ip=IP --orig_master_port=P
 *            --new_master_host=H2 --new_master_ip=IP2 --new_master_port=P2
 *   status:  --command=status --ssh_user=U --orig_master_host=H --orig_master_ip=IP --orig_master_port=P
 *
 * Exit status 0 is success, anything else failure (as MHA treats it).
 * Unlike MHA, heir does not put --new_master_user / --new_master_password on the
 * command line (visible to every local user in the process list): the admin
 * account is in the environment as HEIR_NEW_MASTER_USER / HEIR_NEW_MASTER_PASSWORD.
 * Further facts for the script, also in the environment: HEIR_CLUSTER,
 * HEIR_REASON, HEIR_FLOATING_IP, HEIR_ORIG_MASTER_NAME, HEIR_NEW_MASTER_NAME,
 * HEIR_NEW_MASTER_INSTANCE_ID, HEIR_ORIG_MASTER_INSTANCE_ID.
 */
import { accessSync, constants } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { ClusterConfig, NodeConfig } from '../config/schema';
import { sshExec, sshTarget } from '../ssh';
import { silentLogger, type Logger } from '../util/log';
import { runProcess } from '../util/proc';
import type { AddressMover, AddressStatus, MoveContext, MoveOutcome, PreflightResult } from './types';

type ScriptAddress = Extract<ClusterConfig['address'], { type: 'script' }>;

export interface ScriptRun {
  argv: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  durationMs: number;
}

function tail(s: string, n = 600): string {
  const t = s.trim();
  return t.length > n ? `…${t.slice(-n)}` : t;
}

/**
 * Run the script with a hard timeout: SIGTERM, then SIGKILL 2 s later, to its
 * whole process group (its own children too, which would otherwise keep the
 * output pipes open).
 */
export function runScript(path: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, signal?: AbortSignal): Promise<ScriptRun> {
  return runProcess([path, ...args], { env, timeoutMs, signal });
}

async function ipOf(host: string): Promise<string> {
  if (isIP(host)) return host;
  try {
    return (await lookup(host)).address;
  } catch {
    return host;
  }
}

export class ScriptMover implements AddressMover {
  readonly kind = 'script' as const;
  private readonly addr: ScriptAddress;

  constructor(
    private readonly cluster: ClusterConfig,
    private readonly log: Logger = silentLogger,
  ) {
    if (cluster.address.type !== 'script') throw new Error(`cluster ${cluster.name}: address.type is ${cluster.address.type}, not script`);
    this.addr = cluster.address;
  }

  private sshUser(node: NodeConfig | undefined): string {
    return node?.ssh?.user ?? this.cluster.ssh.user;
  }

  private async origArgs(node: NodeConfig | undefined): Promise<string[]> {
    if (!node) return [];
    return [`--orig_master_host=${node.host}`, `--orig_master_ip=${await ipOf(node.host)}`, `--orig_master_port=${node.port}`];
  }

  private env(ctx: Pick<MoveContext, 'oldMaster' | 'newMaster' | 'reason'>): NodeJS.ProcessEnv {
    const e: NodeJS.ProcessEnv = { ...process.env, HEIR_CLUSTER: this.cluster.name, HEIR_REASON: ctx.reason };
    if (this.addr.floating_ip) e.HEIR_FLOATING_IP = this.addr.floating_ip;
    if (ctx.oldMaster) {
      e.HEIR_ORIG_MASTER_NAME = ctx.oldMaster.name;
      if (ctx.oldMaster.instance_id) e.HEIR_ORIG_MASTER_INSTANCE_ID = ctx.oldMaster.instance_id;
    }
    if (ctx.newMaster) {
      e.HEIR_NEW_MASTER_NAME = ctx.newMaster.name;
      if (ctx.newMaster.instance_id) e.HEIR_NEW_MASTER_INSTANCE_ID = ctx.newMaster.instance_id;
      e.HEIR_NEW_MASTER_USER = this.cluster.mysql.user;
      e.HEIR_NEW_MASTER_PASSWORD = this.cluster.mysql.password;
    }
    return e;
  }

  private async exec(command: string, args: string[], ctx: Pick<MoveContext, 'oldMaster' | 'newMaster' | 'reason' | 'signal' | 'log'>): Promise<MoveOutcome> {
    const log = (ctx.log ?? this.log).child({ cluster: this.cluster.name, mover: 'script', command });
    const argv = [`--command=${command}`, ...args];
    log.info({ script: this.addr.path, argv }, `running ${this.addr.path} ${argv.join(' ')}`);
    const r = await runScript(this.addr.path, argv, this.env(ctx), this.addr.timeout_s * 1000, ctx.signal);
    const shown = `${this.addr.path} ${argv.join(' ')}`;
    const out: MoveOutcome = { ok: false, action: command, detail: '', durationMs: r.durationMs, apiCalls: [] };
    if (r.code === 0) {
      out.ok = true;
      out.detail = `${shown} exited 0${r.stdout.trim() ? `: ${tail(r.stdout, 300)}` : ''}`;
      log.info({ durationMs: r.durationMs }, out.detail);
      return out;
    }
    if (r.timedOut) {
      out.code = 'ScriptTimeout';
      out.detail = `${shown} did not finish within address.timeout_s=${this.addr.timeout_s} s and was killed${r.stderr.trim() ? `; stderr: ${tail(r.stderr)}` : ''}`;
    } else if (r.code === null) {
      out.code = r.signal ? 'ScriptKilled' : 'ScriptNotRunnable';
      out.detail = r.signal ? `${shown} was killed by ${r.signal}` : `${tail(r.stderr)} (check address.path and that the file is executable)`;
    } else {
      out.code = `ExitCode${r.code}`;
      out.detail = `${shown} exited ${r.code}${r.stderr.trim() || r.stdout.trim() ? `: ${tail(r.stderr || r.stdout)}` : ''}`;
    }
    log.error({ code: out.code, durationMs: r.durationMs }, out.detail);
    return out;
  }

  private async sshReachable(node: NodeConfig): Promise<boolean> {
    const t = sshTarget(this.cluster, node);
    try {
      await sshExec(t, 'true', { timeoutMs: t.connectTimeoutMs + 2000 });
      return true;
    } catch {
      return false;
    }
  }

  async fence(ctx: MoveContext): Promise<MoveOutcome> {
    if (!ctx.oldMaster) return { ok: true, action: 'nothing-to-fence', detail: 'no old master given: nothing for the script to stop', durationMs: 0, apiCalls: [] };
    const reachable = ctx.oldMasterSshReachable ?? (await this.sshReachable(ctx.oldMaster));
    const args = reachable ? [`--ssh_user=${this.sshUser(ctx.oldMaster)}`, ...(await this.origArgs(ctx.oldMaster))] : await this.origArgs(ctx.oldMaster);
    return this.exec(reachable ? 'stopssh' : 'stop', args, ctx);
  }

  async attach(ctx: MoveContext): Promise<MoveOutcome> {
    if (!ctx.newMaster) return { ok: false, action: 'start', code: 'NoNewMaster', detail: 'attach: no new master given', durationMs: 0, apiCalls: [] };
    const n = ctx.newMaster;
    const args = [
      `--ssh_user=${this.sshUser(n)}`,
      ...(await this.origArgs(ctx.oldMaster)),
      `--new_master_host=${n.host}`,
      `--new_master_ip=${await ipOf(n.host)}`,
      `--new_master_port=${n.port}`,
    ];
    return this.exec('start', args, ctx);
  }

  async status(ctx: Omit<MoveContext, 'newMaster'>): Promise<AddressStatus> {
    const args = [`--ssh_user=${this.sshUser(ctx.oldMaster)}`, ...(await this.origArgs(ctx.oldMaster))];
    const r = await this.exec('status', args, ctx);
    const s: AddressStatus = { kind: this.kind, state: r.ok ? 'ok' : 'failed', settled: r.ok, detail: r.detail, apiCalls: [] };
    if (this.addr.floating_ip) s.address = this.addr.floating_ip;
    return s;
  }

  async preflight(): Promise<PreflightResult[]> {
    try {
      accessSync(this.addr.path, constants.X_OK);
      return [{ check: 'script-executable', ok: true, severity: 'error', detail: `${this.addr.path} is executable` }];
    } catch (err) {
      return [{ check: 'script-executable', ok: false, severity: 'error', detail: `address.path ${this.addr.path} is not an executable file: ${(err as Error).message}` }];
    }
  }
}

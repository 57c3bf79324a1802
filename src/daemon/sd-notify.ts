/**
 * systemd's service notifications (sd_notify(3)) for `Type=notify`: READY=1 once the daemon has
 * started, STOPPING=1 when it begins to stop, WATCHDOG=1 from the event loop every half of
 * WATCHDOG_USEC (WatchdogSec=), so a wedged daemon is killed and restarted. Nothing happens
 * when NOTIFY_SOCKET is not set (not started by systemd, or `Type=exec`).
 *
 * NOTIFY_SOCKET is a unix datagram socket, which Node.js cannot send to (node:dgram has udp4 and
 * udp6 only; node:net speaks stream sockets). Each notification is therefore sent by systemd's
 * own `systemd-notify`, which ships with every systemd. The unit needs NotifyAccess=all, since
 * the sender is a child process, not the main PID. systemd attributes a message to a unit by the
 * sender's PID, which fails when the sender has already exited; `systemd-notify` (without
 * --no-block, never used here) waits until the service manager has processed the message, so
 * it is still alive then. One process per message: a watchdog ping every WatchdogSec/2
 * (15 s with the shipped unit) costs one short-lived process.
 */
import { spawn } from 'node:child_process';
import type { Logger } from '../util/log';

/** How long one systemd-notify may take (it waits for the service manager). */
const SEND_TIMEOUT_MS = 10_000;

export interface SystemdNotifyOptions {
  env?: NodeJS.ProcessEnv;
  log: Logger;
  /** The helper. Default: systemd-notify from PATH. */
  command?: string;
}

export class SystemdNotify {
  private watchdog: NodeJS.Timeout | null = null;
  private pinging = false;
  private readonly command: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly log: Logger;
  private warned = false;

  private constructor(o: SystemdNotifyOptions) {
    this.env = o.env ?? process.env;
    this.log = o.log;
    this.command = o.command ?? 'systemd-notify';
  }

  /** A notifier when systemd asked for notifications (NOTIFY_SOCKET), else null. */
  static fromEnv(o: SystemdNotifyOptions): SystemdNotify | null {
    const env = o.env ?? process.env;
    return env.NOTIFY_SOCKET ? new SystemdNotify(o) : null;
  }

  /**
   * The watchdog period systemd asked for (WATCHDOG_USEC, in ms), or null: not set, or meant for
   * another process (WATCHDOG_PID names one), as sd_watchdog_enabled(3) reads them.
   */
  watchdogMs(): number | null {
    const usec = Number(this.env.WATCHDOG_USEC);
    if (!Number.isFinite(usec) || usec <= 0) return null;
    const pid = this.env.WATCHDOG_PID;
    if (pid !== undefined && pid !== '' && Number(pid) !== process.pid) return null;
    return usec / 1000;
  }

  /** Ping the watchdog from the event loop every half period: a blocked loop sends nothing. */
  startWatchdog(): void {
    const period = this.watchdogMs();
    if (period === null || this.watchdog) return;
    const every = Math.max(100, Math.floor(period / 2));
    this.log.debug({ watchdogMs: period, pingEveryMs: every }, 'systemd watchdog: pinging');
    const ping = () => {
      // A ping still on its way (the service manager busy) is not doubled.
      if (this.pinging) return;
      this.pinging = true;
      void this.send(['WATCHDOG=1']).finally(() => (this.pinging = false));
    };
    // systemd's timer runs from the exec: Node's own start and the module loading already used
    // part of the period (seconds on a busy host), so the first ping goes out now.
    ping();
    this.watchdog = setInterval(ping, every);
    this.watchdog.unref();
  }

  /** READY=1, with a status line for `systemctl status`. */
  ready(status: string): Promise<boolean> {
    return this.send(['--ready', `--status=${status}`]);
  }

  /** STOPPING=1: the unit shows "deactivating" while a failover step finishes. */
  stopping(status: string): Promise<boolean> {
    return this.send(['STOPPING=1', `--status=${status}`]);
  }

  /** The status line of `systemctl status`. */
  status(text: string): Promise<boolean> {
    return this.send([`--status=${text}`]);
  }

  close(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
  }

  /** Run systemd-notify once; false (and one warning) when it could not deliver. */
  private send(args: string[]): Promise<boolean> {
    return new Promise((resolve) => {
      let stderr = '';
      const child = spawn(this.command, args, { env: this.env, stdio: ['ignore', 'ignore', 'pipe'], timeout: SEND_TIMEOUT_MS });
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
      const fail = (why: string) => {
        if (!this.warned) {
          this.warned = true;
          this.log.warn(
            { command: this.command, args, why },
            `systemd notification failed (${why}); NOTIFY_SOCKET is set, so systemd waits for it: check that ${this.command} is installed and the unit has NotifyAccess=all`,
          );
        }
        resolve(false);
      };
      child.on('error', (e) => fail(e.message));
      child.on('close', (code, signal) => {
        if (code === 0) resolve(true);
        else fail(signal ? `killed by ${signal}` : `exit ${code}${stderr.trim() ? `: ${stderr.trim()}` : ''}`);
      });
    });
  }
}

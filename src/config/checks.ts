/**
 * Checks across fields that the schema alone cannot express: names that must
 * be unique or must refer to nodes, settings that need other settings, and
 * combinations a DBA would not want (no candidate to promote, more detection
 * sources required than configured).
 *
 * Errors reject the file; warnings are printed by `heir config validate` and
 * logged by the daemon, but the file loads.
 */
import * as net from 'node:net';
import * as path from 'node:path';
import type { ClusterConfig, GlobalSettings, HaSettings } from './schema';
import { suggest } from './suggest';
import { EVENT_TYPES, isValidEventFilter } from '../notify/events';
import { STANDARD_SECRET_PREFIX, webhookKey } from '../notify/format';

export interface CheckIssue {
  path: PropertyKey[];
  message: string;
  /** Report the line of the key rather than of its value. */
  key?: boolean;
}

export interface CheckInput {
  /** Global settings, when they passed the schema. */
  heir?: GlobalSettings;
  /** Each cluster as parsed by the schema, or undefined when it has schema errors. */
  clusters: (ClusterConfig | undefined)[];
  /** Each cluster as written (also those with schema errors: their node names are still checked). */
  raw: unknown[];
}

export interface CheckResult {
  errors: CheckIssue[];
  warnings: CheckIssue[];
}

const LOOPBACK = (host: string) => host === 'localhost' || host === '::1' || host.startsWith('127.');
const WILDCARD = (host: string) => host === '0.0.0.0' || host === '::' || host === '';

export function checkConfig(input: CheckInput): CheckResult {
  const errors: CheckIssue[] = [];
  const warnings: CheckIssue[] = [];

  // Cluster names are the handle for every CLI command, lock, metric and state file.
  const seen = new Map<string, number>();
  input.raw.forEach((rc, i) => {
    const name = field(rc, 'name');
    if (typeof name !== 'string') return;
    const first = seen.get(name);
    if (first !== undefined) {
      errors.push({ path: ['clusters', i, 'name'], message: `cluster name '${name}' is already used by clusters[${first}]; names must be unique` });
    } else seen.set(name, i);
  });

  if (input.heir) checkGlobal(input.heir, errors, warnings);

  input.clusters.forEach((c, i) => {
    if (c) checkCluster(c, ['clusters', i], input.heir, errors, warnings);
    else {
      // Schema errors elsewhere in this cluster: still report duplicate nodes now, not on the next try.
      const nodes = field(input.raw[i], 'nodes');
      const name = field(input.raw[i], 'name');
      if (Array.isArray(nodes)) checkNodeIdentity(nodes, typeof name === 'string' ? name : `clusters[${i}]`, ['clusters', i], errors);
    }
  });
  return { errors, warnings };
}

function checkGlobal(g: GlobalSettings, errors: CheckIssue[], warnings: CheckIssue[]): void {
  if (g.ha) checkHa(g.ha, errors);
  if (!path.isAbsolute(g.state_dir)) {
    errors.push({ path: ['heir', 'state_dir'], message: 'must be an absolute path (the daemon does not depend on its working directory)' });
  }
  const listen = parseListen(g.api.listen);
  if (!listen) {
    errors.push({ path: ['heir', 'api', 'listen'], message: "expected host:port, e.g. '127.0.0.1:7878' or '[::1]:7878'" });
  } else if (!LOOPBACK(listen.host) && !g.api.token) {
    warnings.push({
      path: ['heir', 'api', 'listen'],
      message: 'the API listens beyond loopback without heir.api.token: cluster state is readable by anyone who can reach it (actions stay refused)',
    });
  }
  if (g.api.advertise_url !== undefined && !g.ha) {
    warnings.push({ path: ['heir', 'api', 'advertise_url'], message: 'used only with heir.ha (the address the other managers forward actions to)' });
  } else if (g.ha && listen && advertisedApiUrl(g.api) === undefined) {
    warnings.push({
      path: ['heir', 'api', 'listen'],
      message: `with heir.ha, the other managers cannot forward actions to this one: listen is ${LOOPBACK(listen.host) ? 'loopback' : 'a wildcard address'} and heir.api.advertise_url is not set (e.g. http://10.0.1.7:7878)`,
    });
  }
}

/** One scheme for every etcd endpoint; https needs the CA (tls.ca), http takes no TLS settings; a client certificate comes with its key. */
function checkHa(ha: HaSettings, errors: CheckIssue[]): void {
  const at = ['heir', 'ha', 'etcd'];
  const schemes = new Set(ha.etcd.endpoints.map((e) => e.slice(0, e.indexOf(':'))));
  if (schemes.size > 1) {
    errors.push({ path: [...at, 'endpoints'], message: 'mixes http:// and https:// endpoints: every etcd member is reached the same way' });
  } else if (schemes.has('https') && !ha.etcd.tls) {
    errors.push({ path: [...at, 'endpoints'], message: 'https endpoints need heir.ha.etcd.tls.ca (the CA that signed the etcd members\' certificates)' });
  } else if (schemes.has('http') && ha.etcd.tls) {
    errors.push({ path: [...at, 'tls'], message: 'TLS settings with http:// endpoints: use https:// endpoints, or remove tls' });
  }
  const tls = ha.etcd.tls;
  if (tls && !!tls.cert !== !!tls.key) {
    errors.push({ path: [...at, 'tls', tls.cert ? 'key' : 'cert'], message: 'a client certificate needs both cert and key' });
  }
}

function field(o: unknown, k: string): unknown {
  return o && typeof o === 'object' && !Array.isArray(o) ? (o as Record<string, unknown>)[k] : undefined;
}

/**
 * Node names are unique (they name servers in verdicts, reports and
 * `heir switchover --to`), and no server is listed twice. Works on raw nodes too.
 */
function checkNodeIdentity(nodes: readonly unknown[], cluster: string, at: PropertyKey[], errors: CheckIssue[]): void {
  const byName = new Map<string, number>();
  const byAddr = new Map<string, number>();
  nodes.forEach((n, j) => {
    const name = field(n, 'name');
    const host = field(n, 'host');
    const port = field(n, 'port') ?? 3306;
    if (typeof name === 'string') {
      const first = byName.get(name);
      if (first !== undefined) {
        errors.push({ path: [...at, 'nodes', j, 'name'], message: `node name '${name}' is already used by nodes[${first}] in cluster '${cluster}'` });
      } else byName.set(name, j);
    }
    if (typeof host === 'string' && typeof port === 'number') {
      const addr = `${host.toLowerCase()}:${port}`;
      const firstAddr = byAddr.get(addr);
      if (firstAddr !== undefined) {
        const other = field(nodes[firstAddr], 'name');
        errors.push({
          path: [...at, 'nodes', j, 'host'],
          message: `same host and port as nodes[${firstAddr}]${typeof other === 'string' ? ` (${other})` : ''}: one server cannot be two nodes`,
        });
      } else byAddr.set(addr, j);
    }
  });
}

export function parseListen(s: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(s.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 0 || port > 65535) return undefined;
  return { host: (m[1] ?? m[2])!, port };
}

/**
 * heir.ha: the URL the other managers reach this daemon's API at (heir.api.advertise_url, without
 * a trailing /), or by default http://<listen> when listen names one address that is neither
 * loopback nor a wildcard; undefined when there is none (pure).
 */
export function advertisedApiUrl(api: { listen: string; advertise_url?: string | undefined }): string | undefined {
  if (api.advertise_url) return api.advertise_url.replace(/\/$/, '');
  const l = parseListen(api.listen);
  if (!l || l.port === 0 || LOOPBACK(l.host) || WILDCARD(l.host)) return undefined;
  return `http://${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`;
}

function checkCluster(c: ClusterConfig, at: PropertyKey[], g: GlobalSettings | undefined, errors: CheckIssue[], warnings: CheckIssue[]): void {
  const names = c.nodes.map((n) => n.name);

  checkNodeIdentity(c.nodes, c.name, at, errors);

  // The drain's hard bound gives a progressing applier more time than a stuck one, never less.
  const fo = c.failover;
  if (fo.drain_max_s !== undefined && fo.drain_max_s < fo.apply_timeout_s) {
    errors.push({
      path: [...at, 'failover', 'drain_max_s'],
      message: `${fo.drain_max_s} is less than failover.apply_timeout_s ${fo.apply_timeout_s}: the drain bound must be at least the time a stuck applier is given (default 3 × apply_timeout_s)`,
    });
  }

  // Someone must be promotable, or a dead master means a dead cluster.
  const promotable = c.nodes.filter((n) => n.promotion !== 'never');
  if (promotable.length === 0) {
    errors.push({ path: [...at, 'nodes'], message: "every node has promotion: never; a failover would have no candidate (set 'prefer' or 'neutral' on at least two nodes)" });
  } else if (promotable.length === 1) {
    warnings.push({
      path: [...at, 'nodes'],
      message: `only ${promotable[0]!.name} can be promoted: while it is the master, its failure cannot be handled (set 'prefer' or 'neutral' on a second node)`,
    });
  }

  // Detection: secondary checks run from named nodes' hosts; sources must suffice for min_sources.
  const d = c.detection;
  const seenChecks = new Set<string>();
  (d.secondary_checks === 'all' ? [] : d.secondary_checks).forEach((s, k) => {
    if (!names.includes(s)) {
      const near = suggest(s, names);
      errors.push({
        path: [...at, 'detection', 'secondary_checks', k],
        message: `'${s}' is not a node of cluster '${c.name}'${near ? ` (did you mean '${near}'?)` : ''}; nodes: ${names.join(', ')}`,
      });
    } else if (seenChecks.has(s)) {
      warnings.push({ path: [...at, 'detection', 'secondary_checks', k], message: `'${s}' is listed twice` });
    }
    seenChecks.add(s);
  });
  const secondary = d.secondary_checks === 'all' ? c.nodes.length > 1 : d.secondary_checks.length > 0;
  // heir.ha: the other managers' views of the master are one more source.
  const managers = g?.ha !== undefined;
  const sources = 2 + (d.ssh_check ? 1 : 0) + (secondary ? 1 : 0) + (managers ? 1 : 0);
  if (d.min_sources > sources) {
    errors.push({
      path: [...at, 'detection', 'min_sources'],
      message: `${d.min_sources} sources required but only ${sources} configured (manager, replicas${d.ssh_check ? ', ssh' : ''}${
        secondary ? ', secondary checks' : ''
      }${managers ? ', other managers' : ''}): the master could never be declared dead. Lower it, or enable ssh_check / add secondary_checks`,
    });
  }
  if (d.min_sources === 1) {
    warnings.push({
      path: [...at, 'detection', 'min_sources'],
      message: "1 means the manager's view alone can trigger a failover: a network problem between manager and master would cause a split brain",
    });
  }
  if (d.suspect_timeout_ms < d.interval_ms) {
    warnings.push({ path: [...at, 'detection', 'suspect_timeout_ms'], message: `shorter than interval_ms (${d.interval_ms}): a single missed ping could count as dead` });
  }

  // TLS: a client certificate needs its key and vice versa.
  const tls = c.mysql.tls;
  if (tls.cert && !tls.key) errors.push({ path: [...at, 'mysql', 'tls', 'cert'], message: 'a client certificate needs tls.key too', key: true });
  if (tls.key && !tls.cert) errors.push({ path: [...at, 'mysql', 'tls', 'key'], message: 'a client key needs tls.cert too', key: true });
  if ((tls.mode === 'verify-ca' || tls.mode === 'verify-identity') && !tls.ca) {
    warnings.push({
      path: [...at, 'mysql', 'tls', 'mode'],
      message: `${tls.mode} without tls.ca: server certificates are checked against Node's built-in public CAs only (a self-signed MySQL CA will be rejected)`,
    });
  }

  // The address mover and STONITH call the ECS API: they need the cloud settings and the instances.
  const a = c.address;
  const needsCloud = a.type === 'eni' || a.type === 'secondary-ip' || a.type === 'havip';
  if ((needsCloud || c.failover.stonith) && g && !g.cloud) {
    const why = needsCloud ? `address.type ${a.type}` : 'failover.stonith';
    errors.push({
      path: needsCloud ? [...at, 'address', 'type'] : [...at, 'failover', 'stonith'],
      message: `${why} calls the ${a.type === 'havip' ? 'VPC and ECS APIs' : 'ECS API'}: set heir.cloud (at least region_id)`,
    });
  }
  if (needsCloud || c.failover.stonith) {
    const why = needsCloud ? `address.type is ${a.type}` : 'failover.stonith is on';
    const byInstance = new Map<string, number>();
    c.nodes.forEach((n, j) => {
      if (!n.instance_id) {
        errors.push({ path: [...at, 'nodes', j], message: `instance_id (the ECS instance i-... hosting ${n.name}) is required because ${why}` });
        return;
      }
      if (!/^i-[A-Za-z0-9]+$/.test(n.instance_id)) {
        errors.push({ path: [...at, 'nodes', j, 'instance_id'], message: 'an ECS instance id looks like i-xxxxxxxx' });
      }
      const first = byInstance.get(n.instance_id);
      if (first !== undefined && needsCloud) {
        errors.push({
          path: [...at, 'nodes', j, 'instance_id'],
          message: `same instance as nodes[${first}] (${c.nodes[first]!.name}): the address cannot move between two nodes on one instance`,
        });
      } else byInstance.set(n.instance_id, j);
    });
  }
  if ('floating_ip' in a && a.floating_ip !== undefined && net.isIP(a.floating_ip) === 0) {
    errors.push({ path: [...at, 'address', 'floating_ip'], message: 'expected an IP address (the address applications connect to)' });
  }
  if (a.type === 'secondary-ip') {
    for (const key of Object.keys(a.enis)) {
      if (!names.includes(key)) {
        const near = suggest(key, names);
        errors.push({ path: [...at, 'address', 'enis', key], key: true, message: `'${key}' is not a node of cluster '${c.name}'${near ? ` (did you mean '${near}'?)` : ''}` });
      }
    }
    const missing = names.filter((n) => !(n in a.enis));
    if (missing.length) {
      errors.push({ path: [...at, 'address', 'enis'], key: true, message: `no ENI given for ${missing.join(', ')}: every node that may become master needs its primary ENI (eni-...)` });
    }
    for (const [key, eni] of Object.entries(a.enis)) {
      if (!/^eni-[A-Za-z0-9]+$/.test(eni)) errors.push({ path: [...at, 'address', 'enis', key], message: 'an ENI id looks like eni-xxxxxxxx' });
    }
  }
  // Hooks run from the daemon (systemd's PATH, its own working directory): an absolute program.
  for (const [name, h] of Object.entries(c.hooks)) {
    const prog = h?.command[0];
    if (prog !== undefined && !path.isAbsolute(prog)) {
      errors.push({
        path: [...at, 'hooks', name, 'command', 0],
        message: `the program must be an absolute path (got '${prog}'); the command is run without a shell: for a shell line use ["/bin/sh", "-c", "..."]`,
      });
    }
    if (prog !== undefined && /\s/.test(prog) && h!.command.length === 1) {
      warnings.push({
        path: [...at, 'hooks', name, 'command', 0],
        message: 'looks like a whole command line: it is run without a shell, so give the program and each argument as separate list items',
      });
    }
  }
  if (a.type === 'script' && !path.isAbsolute(a.path)) {
    errors.push({ path: [...at, 'address', 'path'], message: 'must be an absolute path to the script' });
  }

  // Webhooks.
  c.webhooks.forEach((w, k) => {
    const wp = [...at, 'webhooks', k];
    let url: URL | undefined;
    try {
      url = new URL(w.url);
    } catch {
      /* reported by the schema */
    }
    if (url && url.protocol !== 'https:' && url.protocol !== 'http:') {
      errors.push({ path: [...wp, 'url'], message: `only http and https webhooks are supported, not ${url.protocol.replace(':', '')}` });
    } else if (url && url.protocol === 'http:' && !LOOPBACK(url.hostname)) {
      warnings.push({ path: [...wp, 'url'], message: 'plain http: the webhook token and alert contents travel unencrypted' });
    }
    w.events.forEach((e, n) => {
      if (!isValidEventFilter(e)) {
        const near = suggest(e, [...EVENT_TYPES]);
        errors.push({
          path: [...wp, 'events', n],
          message: `unknown event type '${e}'${near ? ` (did you mean '${near}'?)` : ''}; known: ${EVENT_TYPES.join(', ')} (or a prefix like 'failover.*')`,
        });
      }
    });
    if (!w.secret && (w.type === 'generic' || w.type === 'dingtalk' || w.type === 'feishu')) {
      warnings.push({
        path: wp,
        message:
          w.type === 'generic'
            ? `no secret: deliveries are not signed (webhook-signature is left out); give one as ${STANDARD_SECRET_PREFIX}<Base64 of 24-64 random bytes>`
            : `no secret: messages are not signed; the ${w.type} robot must then be protected by keywords or an IP allowlist`,
      });
    }
    if (w.secret && w.type === 'generic' && w.secret.startsWith(STANDARD_SECRET_PREFIX)) {
      try {
        webhookKey(w.secret);
      } catch (e) {
        errors.push({ path: [...wp, 'secret'], message: (e as Error).message });
      }
    }
    if (w.secret && (w.type === 'wecom' || w.type === 'slack')) {
      warnings.push({ path: [...wp, 'secret'], key: true, message: `${w.type} webhooks have no signing; the secret is not used (the token is part of the url)` });
    }
  });
}

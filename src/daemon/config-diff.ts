/**
 * What a reload changes (pure). The daemon compares the running configuration with the
 * new one cluster by cluster: a cluster whose configuration is deeply equal keeps its
 * monitor running untouched; an added one starts, a removed one stops, a changed one
 * restarts. Global settings that every cluster's runtime depends on (state_dir, cloud)
 * restart every cluster; the API listener and the log level are applied in place.
 */
import type { ClusterConfig, HeirConfig } from '../config/schema';

export interface ConfigDiff {
  added: string[];
  removed: string[];
  /** Clusters to restart, each with the top-level keys that changed (or 'heir.state_dir' / 'heir.cloud'). */
  changed: { name: string; keys: string[] }[];
  unchanged: string[];
  /** heir.api.listen or heir.api.token changed: the API server restarts. */
  apiChanged: boolean;
  logLevelChanged: boolean;
  /** Nothing at all differs. */
  same: boolean;
}

/** JSON with object keys sorted: equal for deeply equal plain data, whatever the key order. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (x && typeof x === 'object' && !Array.isArray(x)) {
      const o = x as Record<string, unknown>;
      return Object.fromEntries(
        Object.keys(o)
          .sort()
          .filter((k) => o[k] !== undefined)
          .map((k) => [k, o[k]]),
      );
    }
    return x;
  });
}

export function deepEqual(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** Top-level keys of a cluster's configuration that differ between a and b. */
export function changedKeys(a: ClusterConfig, b: ClusterConfig): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys]
    .filter((k) => !deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
    .sort();
}

export function diffConfigs(oldCfg: HeirConfig, newCfg: HeirConfig): ConfigDiff {
  const before = new Map(oldCfg.clusters.map((c) => [c.name, c]));
  const after = new Map(newCfg.clusters.map((c) => [c.name, c]));
  const globalKeys: string[] = [];
  if (oldCfg.heir.state_dir !== newCfg.heir.state_dir) globalKeys.push('heir.state_dir');
  if (!deepEqual(oldCfg.heir.cloud, newCfg.heir.cloud)) globalKeys.push('heir.cloud');

  const added: string[] = [];
  const removed: string[] = [];
  const changed: ConfigDiff['changed'] = [];
  const unchanged: string[] = [];
  for (const [name, c] of after) {
    const prev = before.get(name);
    if (!prev) {
      added.push(name);
      continue;
    }
    const keys = [...changedKeys(prev, c), ...globalKeys];
    if (keys.length) changed.push({ name, keys });
    else unchanged.push(name);
  }
  for (const name of before.keys()) if (!after.has(name)) removed.push(name);

  const apiChanged = !deepEqual(oldCfg.heir.api, newCfg.heir.api);
  const logLevelChanged = oldCfg.heir.log_level !== newCfg.heir.log_level;
  return {
    added,
    removed,
    changed,
    unchanged,
    apiChanged,
    logLevelChanged,
    same: added.length + removed.length + changed.length === 0 && !apiChanged && !logLevelChanged,
  };
}

/** One line for the log: "added a; removed b; restarted c (nodes, detection); 3 unchanged". */
export function describeDiff(d: ConfigDiff): string {
  if (d.same) return 'configuration unchanged';
  const parts: string[] = [];
  if (d.added.length) parts.push(`added ${d.added.join(', ')}`);
  if (d.removed.length) parts.push(`removed ${d.removed.join(', ')}`);
  if (d.changed.length) parts.push(`restarted ${d.changed.map((c) => `${c.name} (${c.keys.join(', ')})`).join(', ')}`);
  if (d.apiChanged) parts.push('API listener restarted');
  if (d.logLevelChanged) parts.push('log level changed');
  parts.push(`${d.unchanged.length} cluster(s) unchanged`);
  return parts.join('; ');
}

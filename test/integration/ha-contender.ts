/**
 * A manager contending for one cluster's leadership, as a child process the HA tests can
 * kill or pause: `node ha-contender.js <endpoints,> <manager> <cluster> <ttl_s> <prefix>`.
 * Prints one JSON line per event (elected, lost, leader, unavailable) and per command.
 * Commands on stdin: `write <key> <value>` (a fenced put), `view <master> <reachable 0|1>`
 * (publish this manager's view of the cluster's master), `exit`.
 */
import * as readline from 'node:readline';
import { HaSession } from '../../src/ha/leadership';
import { HaSettings } from '../../src/config/schema';

const [endpoints, manager, cluster, ttl, prefix] = process.argv.slice(2);
const settings = HaSettings.parse({
  etcd: { endpoints: endpoints!.split(','), request_timeout_ms: 1000 },
  manager_id: manager,
  lease_ttl_s: Number(ttl),
  prefix,
});
const out = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify({ ...o, manager, t: Date.now() }) + '\n');
const session = new HaSession(settings);
const l = session.leadership(cluster!);
l.on('elected', (rev: string) => out({ event: 'elected', rev }));
l.on('lost', (why: string) => out({ event: 'lost', why }));
l.on('leader', (who: string | undefined) => out({ event: 'leader', leader: who ?? null }));
l.on('unavailable', (why: string) => out({ event: 'unavailable', why }));

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd, key, value] = line.trim().split(/\s+/);
  if (cmd === 'write') {
    l.fenced(`test write ${key}`, [{ type: 'put', key: key!, value: value ?? '' }]).then(
      () => out({ event: 'write', key, ok: true }),
      (e: Error) => out({ event: 'write', key, ok: false, error: e.name, message: e.message }),
    );
  } else if (cmd === 'view') {
    session.publishView({ cluster: cluster!, master: key!, reachable: value === '1', verdict: value === '1' ? 'Healthy' : 'Suspect', at: new Date().toISOString() }).then(
      () => out({ event: 'view', ok: true }),
      (e: Error) => out({ event: 'view', ok: false, error: e.name, message: e.message }),
    );
  } else if (cmd === 'exit') {
    session.close().then(() => process.exit(0));
  }
});
out({ event: 'started' });

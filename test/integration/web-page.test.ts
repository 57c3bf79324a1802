/**
 * The topology page in a real browser: Debian's chromium (headless, driven by playwright-core;
 * no browser is downloaded) against the real daemon (`node bin/heir.js daemon`, a child
 * process), a real 3-node MySQL 9.7 cluster whose address is an ENI in the ECS API emulator,
 * and a second cluster whose node's host is markup that must show as text.
 *
 * The page shows the tree, each node's facts and the address holder; after kill -9 of the
 * master it shows the verdict, the failover's timeline and the new tree within 2 s of the
 * report being written. Screenshots go to test-artifacts/web-page/ (kept after the run).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startCluster, type LabCluster } from '../lab';
import { startEcsEmulator, type EcsEmulator } from '../ecs-emulator/server';
import { cloudFor, labRegion } from '../ecs-emulator/fixture';
import type { ClusterConfig } from '../../src/config/schema';
import { reportsDir } from '../../src/failover/report';
import { apiRequest, jsonLogLines, until } from '../support/cli';
import { assertInvariant } from '../support/invariant';

// The functions handed to page.evaluate/waitForFunction run in the browser; the project compiles without the DOM library.
declare const document: any;
declare const window: any;

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'bin', 'heir.js');
const CHROMIUM = '/usr/bin/chromium';
/** Kept after the run (listed in .gitignore). */
export const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'web-page');
const TOKEN = 'web-page-test-token-5e81c0a94d7b2f36';
/** A host that is markup: it comes back in the node's address and in its error message. */
const EVIL_HOST = '<img src=x onerror="window.__heirInjected=1">.invalid';

let emu: EcsEmulator | undefined;
let lab: LabCluster | undefined;
let dir = '';
let stateDir = '';
let apiUrl = '';
let daemon: ChildProcess | undefined;
let daemonExit: Promise<number | null> | undefined;
let out = '';
let browser: Browser | undefined;
let page: Page | undefined;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = http.createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function shot(name: string): Promise<void> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page!.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Node names under the tree's root, as the page draws them: [root, [children...]]. */
async function drawnTree(cluster: string): Promise<{ root: string | null; role: string | null; children: string[] }> {
  return page!.evaluate((c) => {
    const tree = document.querySelector(`[data-cluster="${c}"] [data-tree]`);
    const rootLi = tree?.querySelector(':scope > li');
    const rootNode = rootLi?.querySelector(':scope > .node');
    const kids = [...(rootLi?.querySelectorAll(':scope > ul > li > .node') ?? [])].map((n) => n.getAttribute('data-node') ?? '');
    return { root: rootNode?.getAttribute('data-node') ?? null, role: rootNode?.getAttribute('data-role') ?? null, children: kids.sort() };
  }, cluster);
}

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium package`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-web-page-'));
  stateDir = path.join(dir, 'state');
  fs.writeFileSync(path.join(dir, 'api-token'), `${TOKEN}\n`, { mode: 0o600 });
  fs.rmSync(ARTIFACTS, { recursive: true, force: true });

  emu = await startEcsEmulator({ state: labRegion({ eniOn: 'i-db1' }) });
  lab = await startCluster({ flavor: 'mysql', name: 'web1' });
  // A transaction, so that every node has an executed GTID set to show.
  await lab.sql('db1', 'CREATE DATABASE IF NOT EXISTS app');
  const base = lab.clusterConfig({
    detection: { ping_type: 'select', ssh_check: false, min_sources: 2, interval_ms: 1000 } as ClusterConfig['detection'],
    failover: { salvage: { enabled: false } } as ClusterConfig['failover'],
  });
  const web1 = {
    ...base,
    nodes: base.nodes.map((n, i) => ({ ...n, instance_id: `i-db${i + 1}` })),
    // On loopback every server listens on 127.0.0.1 at its own port: the verify reaches the new holder there.
    address: { type: 'eni', eni_id: 'eni-floating', floating_ip: '127.0.0.1', verify: true },
  };
  const evil = {
    ...base,
    name: 'web2',
    nodes: [
      { name: 'x1', host: EVIL_HOST, port: 3306 },
      { name: 'x2', host: EVIL_HOST, port: 3307 },
    ],
  };
  apiUrl = `http://127.0.0.1:${await freePort()}`;
  const configPath = path.join(dir, 'heir.yaml');
  fs.writeFileSync(
    configPath,
    stringify({
      heir: { state_dir: stateDir, log_level: 'info', cloud: cloudFor(emu), api: { listen: apiUrl.replace('http://', ''), token: `\${file:${path.join(dir, 'api-token')}}` } },
      clusters: [web1, evil],
    }),
  );
  const key = emu.keys[0]!;
  daemon = spawn(process.execPath, [BIN, 'daemon', '--config', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      HEIR_LOG_LEVEL: '',
      ALIBABA_CLOUD_ACCESS_KEY_ID: key.id,
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: key.secret,
      ALIBABA_CLOUD_ECS_METADATA_DISABLED: 'true',
      ALIBABA_CLOUD_CLI_PROFILE_DISABLED: 'true',
      ALIBABA_CLOUD_CREDENTIALS_FILE: '/nonexistent/heir-test-credentials',
    },
  });
  daemonExit = new Promise((resolve) => daemon!.on('exit', (code) => resolve(code)));
  daemon.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  daemon.stderr!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  await until('"heir ready" in the daemon log', 60_000, () => jsonLogLines(out).some((l) => /^heir ready/.test(l.msg ?? '')));

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
});

after(async () => {
  await browser?.close().catch(() => undefined);
  if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
    daemon.kill('SIGKILL');
    await daemonExit;
  }
  await lab?.teardown().catch(() => undefined);
  await emu?.close().catch(() => undefined);
  if (process.env.HEIR_TEST_KEEP) process.stderr.write(`web page test folder kept: ${dir}\n`);
  else if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('the page draws the tree, each node\'s facts and the address holder; markup from the config stays text', async () => {
  const res = await page!.goto(`${apiUrl}/`);
  assert.equal(res?.status(), 200);
  assert.match(res!.headers()['content-security-policy'] ?? '', /script-src 'self'/);

  // Every node read, the address holder read from the cloud.
  await page!.waitForFunction(
    () =>
      [...document.querySelectorAll('[data-cluster="web1"] .node [data-fact="gtid"]')].filter((g: any) => g.textContent.includes('…')).length === 3 &&
      !!document.querySelector('[data-cluster="web1"] [data-address-holder="db1"]'),
    undefined,
    { timeout: 30_000, polling: 100 },
  );
  assert.deepEqual(await drawnTree('web1'), { root: 'db1', role: 'master', children: ['db2', 'db3'] });

  const st = (await apiRequest(apiUrl, 'GET', '/clusters/web1')).body;
  const facts = await page!.evaluate(() =>
    Object.fromEntries(
      [...document.querySelectorAll('[data-cluster="web1"] .node')].map((n) => [
        n.getAttribute('data-node'),
        Object.fromEntries([...n.querySelectorAll('[data-fact]')].map((f) => [f.getAttribute('data-fact'), { text: f.textContent, title: f.getAttribute('title') }])),
      ]),
    ),
  );
  assert.equal(facts.db1.read_only.text, 'OFF');
  for (const r of ['db2', 'db3']) {
    assert.equal(facts[r].read_only.text, 'ON', `${r} read_only`);
    assert.equal(facts[r].super_read_only.text, 'ON', `${r} super_read_only`);
    assert.equal(facts[r].threads.text, 'Yes/Yes', `${r} IO/SQL`);
    assert.equal(facts[r].source.text, 'db1');
    assert.match(facts[r].lag.text, /^\d+ s$/);
  }
  for (const n of st.nodes) {
    // Shortened on the page, whole on hover.
    assert.equal(facts[n.name].gtid.title, n.gtid, `${n.name}: the full GTID set is the hover text`);
    assert.ok(facts[n.name].gtid.text.length <= 40 && facts[n.name].gtid.text.includes('…'), `${n.name}: shortened GTID ${facts[n.name].gtid.text}`);
  }
  const verdict = await page!.textContent('[data-cluster="web1"] .verdict');
  assert.match(verdict ?? '', /Healthy/);
  assert.equal(await page!.getAttribute('[data-cluster="web1"] .block', 'data-blocked'), 'no');
  const address = await page!.textContent('[data-cluster="web1"] .address');
  assert.match(address ?? '', /eni-floating/);
  assert.match(address ?? '', /i-db1/);

  // The cluster whose host is markup: the markup is on the page as text, and nothing ran.
  await page!.waitForFunction(() => document.querySelectorAll('[data-cluster="web2"] .node').length === 2, undefined, { timeout: 30_000 });
  const web2 = await page!.textContent('[data-cluster="web2"]');
  assert.ok(web2!.includes(EVIL_HOST), 'the host is shown as text');
  assert.equal(await page!.evaluate(() => document.querySelectorAll('img').length), 0, 'no element was made from the host');
  assert.equal(await page!.evaluate(() => window.__heirInjected), undefined);
  await shot('1-healthy');
});

test('kill -9 of the master: within 2 s of the report the page shows the verdict, the failover timeline and the new tree', async () => {
  const dirOfReports = reportsDir(stateDir, 'web1');
  await lab!.kill('db1');
  const report = await until('the failover report in the state folder', 90_000, () => {
    try {
      const f = fs.readdirSync(dirOfReports).find((x) => /^failover-.*\.json$/.test(x));
      return f ? path.join(dirOfReports, f) : undefined;
    } catch {
      return undefined;
    }
  });
  const writtenAt = fs.statSync(report).mtimeMs;
  const r = JSON.parse(fs.readFileSync(report, 'utf8'));
  assert.equal(r.outcome, 'promoted', `failover promoted: ${r.summary}`);
  const newMaster = r.newMaster as string;
  const other = ['db2', 'db3'].find((n) => n !== newMaster)!;

  await page!.waitForFunction(
    ({ id, newMaster, other }) => {
      const c = document.querySelector('[data-cluster="web1"]');
      const rep = c?.querySelector(`.report[data-report="${id}"]`);
      const root = c?.querySelector('[data-tree] > li > .node');
      const child = c?.querySelector('[data-tree] > li > ul > li > .node');
      return (
        rep?.getAttribute('data-outcome') === 'promoted' &&
        root?.getAttribute('data-node') === newMaster &&
        child?.getAttribute('data-node') === other &&
        c?.querySelector(`[data-address-holder="${newMaster}"]`)
      );
    },
    { id: r.id, newMaster, other },
    { timeout: 15_000, polling: 50 },
  );
  const shownAfter = Date.now() - writtenAt;
  console.log(`# the page showed the failover ${shownAfter} ms after its report was written`);
  assert.ok(shownAfter <= 2000, `the page showed the failover ${shownAfter} ms after the report was written (at most 2000)`);
  await shot('2-after-failover');

  // The timeline: every step of the report, with its outcome and duration; the verdict that started it.
  const steps = await page!.$$eval(`[data-cluster="web1"] .report[data-report="${r.id}"] .step`, (els) =>
    els.map((e) => ({ name: e.getAttribute('data-step'), outcome: e.getAttribute('data-outcome'), ms: e.querySelector('.step-ms')?.textContent })),
  );
  assert.deepEqual(
    steps.map((s) => [s.name, s.outcome]),
    r.steps.map((s: any) => [s.name, s.outcome]),
  );
  assert.ok(steps.every((s) => /\d+(\.\d)? (ms|s)$/.test(s.ms ?? '')), 'each step shows its duration');
  const timeline = await page!.textContent(`[data-cluster="web1"] .report[data-report="${r.id}"]`);
  assert.match(timeline ?? '', /DeadMaster/);
  assert.match(timeline ?? '', new RegExp(`db1 → ${newMaster}`));

  // The latest verdict with its evidence, the block the failover left, the old master out of the tree.
  const verdict = await page!.textContent('[data-cluster="web1"] .verdict');
  assert.match(verdict ?? '', /DeadMaster/);
  assert.ok((await page!.$$('[data-cluster="web1"] .evidence tbody tr')).length > 0, 'the evidence is listed');
  assert.equal(await page!.getAttribute('[data-cluster="web1"] .block', 'data-blocked'), 'yes');
  assert.equal(await page!.getAttribute('[data-cluster="web1"] .detached [data-node="db1"]', 'data-role'), 'unreachable');

  const holders = async () => {
    const e = emu!.state.snapshot().enis.find((x) => x.id === 'eni-floating');
    return e?.instanceId ? [`db${e.instanceId.replace('i-db', '')}`] : [];
  };
  await assertInvariant({ lab: lab!, master: newMaster, absent: ['db1'], addressHolders: holders });
});

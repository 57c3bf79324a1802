/**
 * The topology page in a real browser: Debian's chromium (headless, driven by playwright-core;
 * no browser is downloaded) against the real daemon (`node bin/heir.js daemon`, a child
 * process), a real 3-node MySQL 9.7 cluster whose address is an ENI in the ECS API emulator,
 * and a second cluster whose node's host is markup that must show as text.
 *
 * The page shows the tree, each node's facts and the address holder; after kill -9 of the
 * master it shows the verdict, the failover's timeline and the new tree within 2 s of the
 * report being written. Actions need the token and a typed confirmation: a wrong token is
 * refused, a cancelled confirmation sends nothing, a switchover (db1 → db2) moves the master
 * and the address, and after the failover an acknowledgement lifts the block. Screenshots
 * go to test-artifacts/web-page/ (kept after the run).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort, startCluster, type LabCluster } from '../lab';
import { startEcsEmulator, type EcsEmulator } from '../ecs-emulator/server';
import { cloudFor, labRegion } from '../ecs-emulator/fixture';
import type { ClusterConfig } from '../../src/config/schema';
import { reportsDir } from '../../src/failover/report';
import { apiRequest, jsonLogLines, until } from '../support/cli';
import { assertInvariant } from '../support/invariant';

// The functions handed to page.evaluate/waitForFunction run in the browser; the project compiles without the DOM library.
declare const document: any;
declare const window: any;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Where the ENI is, as node names (i-db2 → db2). */
async function holders(): Promise<string[]> {
  const e = emu!.state.snapshot().enis.find((x) => x.id === 'eni-floating');
  return e?.instanceId ? [`db${e.instanceId.replace('i-db', '')}`] : [];
}

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


const ACK = '[data-cluster="web1"] button[data-action="ack"]';
const BLOCK = '[data-cluster="web1"] .block';
const RESULT = '[data-cluster="web1"] .action-result';

async function useToken(t: string): Promise<void> {
  await page!.fill('#token', t);
  await page!.click('#token-form button[type="submit"]');
}

/** The confirmation dialog is open; Confirm stays disabled until the whole cluster name is typed. */
async function confirmWith(name: string): Promise<void> {
  const p = page!;
  await p.waitForSelector('#confirm[open]');
  assert.equal(await p.isDisabled('#confirm-ok'), true, 'Confirm is disabled until the name is typed');
  await p.fill('#confirm-input', name.slice(0, -1));
  assert.equal(await p.isDisabled('#confirm-ok'), true, 'a partial name does not enable it');
  await p.fill('#confirm-input', name);
  assert.equal(await p.isDisabled('#confirm-ok'), false);
  await p.click('#confirm-ok');
}

/** Waits for the action's answer on the page and returns it. */
async function actionResult(action: string, timeoutMs: number): Promise<string> {
  await page!.waitForFunction(({ sel, action }) => new RegExp(`^${action}(:| refused)`).test(document.querySelector(sel)?.textContent ?? ''), { sel: RESULT, action }, { timeout: timeoutMs });
  return (await page!.textContent(RESULT)) ?? '';
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
  if (out) {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    fs.writeFileSync(path.join(ARTIFACTS, 'daemon.log'), out);
  }
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

test('actions need the token and a typed confirmation: a wrong token is refused, a cancel sends nothing, a switchover moves the master', async () => {
  const p = page!;
  const switchBtn = '[data-cluster="web1"] button[data-action="switchover"]';
  assert.equal(await p.isDisabled(switchBtn), true, 'no token: actions are disabled');
  assert.equal(await p.isDisabled(ACK), true);
  assert.match((await p.textContent('#token-state')) ?? '', /read-only/);

  // A wrong token: the daemon refuses, the page says so, nothing changes.
  await useToken('not-the-token-0000000000000000');
  await p.click(ACK);
  await confirmWith('web1');
  assert.match(await actionResult('ack', 10_000), /^ack refused \(HTTP 401\)/);
  await p.click('#token-forget');
  assert.equal(await p.isDisabled(ACK), true);

  // The token; a cancelled confirmation sends nothing.
  await useToken(TOKEN);
  await p.selectOption('[data-cluster="web1"] select.switch-to', 'db2');
  await p.click(switchBtn);
  await p.waitForSelector('#confirm[open]');
  assert.match((await p.textContent('#confirm-text')) ?? '', /from db1 to db2/);
  await p.click('#confirm-cancel');
  await p.waitForSelector('#confirm', { state: 'hidden' });
  await sleep(1500);
  assert.ok(!jsonLogLines(out).some((l) => l.msg === 'API action requested' && l.cluster === 'web1' && l.action === 'switchover'), 'no switchover request reached the daemon');
  assert.equal((await drawnTree('web1')).root, 'db1');

  // Confirmed: the tree, the address and the switchover's timeline follow.
  await p.click(switchBtn);
  await confirmWith('web1');
  assert.match(await actionResult('switchover', 60_000), /^switchover: switched/);
  await p.waitForFunction(
    () => {
      const c = document.querySelector('[data-cluster="web1"]');
      return c?.querySelector('[data-tree] > li > .node')?.getAttribute('data-node') === 'db2' && c?.querySelector('.report[data-kind="switchover"][data-outcome="switched"] .step') && c?.querySelector('[data-address-holder="db2"]');
    },
    undefined,
    { timeout: 10_000, polling: 100 },
  );
  assert.deepEqual(await drawnTree('web1'), { root: 'db2', role: 'master', children: ['db1', 'db3'] });
  const sw = (await apiRequest(apiUrl, 'GET', '/clusters/web1/reports?limit=1')).body.reports[0];
  assert.equal(sw.kind, 'switchover');
  const swSteps = await p.$$eval(`[data-cluster="web1"] .report[data-report="${sw.id}"] .step`, (els: any[]) => els.map((e) => [e.getAttribute('data-step'), e.getAttribute('data-outcome')]));
  assert.deepEqual(
    swSteps,
    sw.steps.map((x: any) => [`${x.step}${x.node ? ` ${x.node}` : ''}`, x.ok ? 'ok' : 'failed']),
    'each switchover step with its node and outcome',
  );
  await shot('2-after-switchover');
  await assertInvariant({ lab: lab!, master: 'db2', addressHolders: holders });
});

test('kill -9 of the master: within 2 s of the report the page shows the verdict, the failover timeline and the new tree', async () => {
  const dead = (await apiRequest(apiUrl, 'GET', '/clusters/web1')).body.master as string;
  assert.equal(dead, 'db2');
  const dirOfReports = reportsDir(stateDir, 'web1');
  await lab!.kill(dead);
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
  const other = ['db1', 'db3'].find((n) => n !== newMaster)!;

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
  await shot('3-after-failover');
  // What a person sees first, at the viewport's size (the README's picture comes from here).
  await page!.setViewportSize({ width: 1280, height: 1240 });
  await page!.screenshot({ path: path.join(ARTIFACTS, 'topology.png') });
  await page!.setViewportSize({ width: 1280, height: 900 });

  // The timeline: every step of the report, with its outcome and duration; the verdict that started it.
  const steps = await page!.$$eval(`[data-cluster="web1"] .report[data-report="${r.id}"] .step`, (els: any[]) =>
    els.map((e) => ({ name: e.getAttribute('data-step'), outcome: e.getAttribute('data-outcome'), ms: e.querySelector('.step-ms')?.textContent })),
  );
  assert.deepEqual(
    steps.map((s: any) => [s.name, s.outcome]),
    r.steps.map((s: any) => [s.name, s.outcome]),
  );
  assert.ok(steps.every((s: any) => /\d+(\.\d)? (ms|s)$/.test(s.ms ?? '')), 'each step shows its duration');
  const timeline = await page!.textContent(`[data-cluster="web1"] .report[data-report="${r.id}"]`);
  assert.match(timeline ?? '', /DeadMaster/);
  assert.match(timeline ?? '', new RegExp(`${dead} → ${newMaster}`));

  // The latest verdict with its evidence, the block the failover left, the old master out of the tree.
  const verdict = await page!.textContent('[data-cluster="web1"] .verdict');
  assert.match(verdict ?? '', /DeadMaster/);
  assert.ok((await page!.$$('[data-cluster="web1"] .evidence tbody tr')).length > 0, 'the evidence is listed');
  // Opened, it stays open across the page's updates.
  await page!.click('[data-cluster="web1"] .evidence-box summary');
  // The cluster's view is drawn anew when its data changes (the next topology read at the latest).
  await page!.evaluate(() => {
    window.__heirView = document.querySelector('[data-cluster="web1"] .view');
  });
  await page!.waitForFunction(() => document.querySelector('[data-cluster="web1"] .view') !== window.__heirView, undefined, { timeout: 20_000 });
  assert.equal(await page!.isVisible('[data-cluster="web1"] .evidence tbody tr'), true, 'the opened evidence is visible after an update');
  assert.equal(await page!.getAttribute(BLOCK, 'data-blocked'), 'yes');
  assert.equal(await page!.getAttribute(`[data-cluster="web1"] .detached [data-node="${dead}"]`, 'data-role'), 'unreachable');

  await assertInvariant({ lab: lab!, master: newMaster, absent: [dead], addressHolders: holders });
});

test('after the failover, an acknowledgement from the page lifts the block', async () => {
  assert.equal(await page!.getAttribute(BLOCK, 'data-blocked'), 'yes');
  await page!.click(ACK);
  await confirmWith('web1');
  assert.match(await actionResult('ack', 10_000), /^ack: web1: .*lifted the block/);
  await page!.waitForSelector(`${BLOCK}[data-blocked="no"]`, { timeout: 5_000 });
});

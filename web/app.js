// heir's topology page: reads the daemon's API every second and draws each cluster. Actions
// (switchover, failover, acknowledge) are sent with the API token the operator types in, each
// after a confirmation that names the cluster.
// Every value that comes from a server, the configuration or an error goes into the page as
// text (textContent, setAttribute), never as markup.
'use strict';

const POLL_MS = 1000;
const REPORTS_SHOWN = 5;

/** Element builder: h('div', {class: 'x', title: t}, child, 'text', ...). Strings become text nodes. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function getJson(path) {
  const res = await fetch(path, { cache: 'no-store', headers: { Accept: 'application/json' } });
  let body = null;
  try {
    body = await res.json();
  } catch {
    /* reported below */
  }
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}${body && body.error ? `: ${body.error}` : ''}`);
  return body;
}

/** "3E11FA47…:1-5712" per source, like heir status; MariaDB positions as they are. */
function shortGtid(text) {
  if (text === null || text === undefined) return '-';
  const parts = String(text).split(',').map((p) => p.trim()).filter(Boolean);
  if (parts.length === 0) return '(empty)';
  const out = parts.map((p) => {
    const m = /^([0-9a-fA-F]{8})[0-9a-fA-F-]{28}(:.*)$/.exec(p);
    if (!m) return p;
    const intervals = m[2].split(':').filter(Boolean);
    return `${m[1]}…:${intervals[intervals.length - 1]}`;
  });
  const s = out.join(',');
  return s.length > 40 ? `${s.slice(0, 39)}…` : s;
}

function time(iso) {
  if (!iso) return '-';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

function ms(n) {
  if (n === undefined || n === null) return '-';
  return n >= 10000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`;
}

function yesNo(v) {
  return v === true ? 'ON' : v === false ? 'OFF' : '?';
}

// ---------------------------------------------------------------------------------------------
// One node

function nodeCard(n) {
  const roClass = n.readOnly === false ? 'rw' : 'ro';
  const threads = n.io === null ? null : `${n.io}/${n.sql}`;
  const threadsOk = n.io === 'Yes' && n.sql === 'Yes';
  return h(
    'div',
    { class: `node role-${n.role}${n.reachable ? '' : ' down'}`, 'data-node': n.name, 'data-role': n.role },
    h('div', { class: 'node-head' }, h('span', { class: 'node-name' }, n.name), h('span', { class: `badge role` }, n.role)),
    h('div', { class: 'muted addr' }, `${n.host}:${n.port}${n.version ? ` · ${n.version}` : ''}`),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'read_only'),
      h('dd', { class: n.reachable ? roClass : '', 'data-fact': 'read_only' }, n.reachable ? yesNo(n.readOnly) : '-'),
      h('dt', {}, 'super_read_only'),
      h('dd', { 'data-fact': 'super_read_only' }, n.reachable ? yesNo(n.superReadOnly) : '-'),
      threads !== null ? [h('dt', {}, 'IO/SQL'), h('dd', { class: threadsOk ? 'ok' : 'bad', 'data-fact': 'threads' }, threads)] : null,
      n.source ? [h('dt', {}, 'source'), h('dd', { 'data-fact': 'source' }, n.source)] : null,
      n.lagS !== null && n.lagS !== undefined ? [h('dt', {}, 'lag'), h('dd', { 'data-fact': 'lag' }, `${n.lagS} s`)] : null,
      h('dt', {}, 'GTID'),
      h('dd', { class: 'gtid', title: n.gtid || '', 'data-fact': 'gtid' }, shortGtid(n.gtid)),
    ),
    n.error ? h('div', { class: 'node-error' }, n.error) : null,
  );
}

/**
 * The replication tree: the master at the root, each node under the node it replicates from.
 * Nodes that hang under nobody in the cluster (unreachable, stopped, pointing elsewhere) are
 * listed beside it.
 */
function tree(c) {
  const byName = new Map(c.nodes.map((n) => [n.name, n]));
  const children = new Map();
  for (const n of c.nodes) {
    if (n.name === c.master || !n.source || !byName.has(n.source) || n.source === n.name) continue;
    if (!children.has(n.source)) children.set(n.source, []);
    children.get(n.source).push(n);
  }
  const placed = new Set();
  const branch = (n, depth) => {
    placed.add(n.name);
    const kids = (children.get(n.name) || []).filter((k) => !placed.has(k.name));
    return h('li', {}, nodeCard(n), kids.length && depth < 10 ? h('ul', {}, kids.map((k) => branch(k, depth + 1))) : null);
  };
  const root = c.master && byName.get(c.master);
  const out = h('div', { class: 'tree-wrap' });
  if (root) out.append(h('ul', { class: 'tree', 'data-tree': c.name }, branch(root, 0)));
  else out.append(h('p', { class: 'muted' }, 'no master known'));
  const rest = c.nodes.filter((n) => !placed.has(n.name));
  if (rest.length) {
    out.append(h('div', { class: 'detached' }, h('h4', {}, 'Not under the master'), h('div', { class: 'detached-nodes' }, rest.map(nodeCard))));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Verdict, block state, address

function verdictBox(c) {
  const v = c.verdictDetail;
  const cls = c.verdict === 'Healthy' ? 'ok' : c.failoverAllowed ? 'bad' : 'warn';
  const box = h(
    'section',
    { class: 'verdict', 'data-verdict': c.verdict },
    h('h3', {}, 'Verdict ', h('span', { class: `badge ${cls}` }, c.verdict)),
    h('p', {}, c.verdictReason || (c.verdict === 'unknown' ? `monitor: ${c.monitor}` : '')),
  );
  if (v) {
    box.append(
      h('p', { class: 'verdict-change' }, `latest change: master ${v.master} ${v.from} → `, h('b', {}, v.verdict), ` at ${time(c.verdictAt)}`),
      h('p', { class: 'muted' }, `rule ${v.rule}: ${v.because}`),
    );
  }
  if (v && v.confirmedBy && v.confirmedBy.length) box.append(h('p', {}, `confirmed by: ${v.confirmedBy.join(', ')}`));
  if (v && v.evidence && v.evidence.length) {
    box.append(
      h(
        'details',
        { class: 'evidence-box' },
        h('summary', {}, `evidence (${v.evidence.length})`),
        h(
        'table',
        { class: 'evidence' },
        h('thead', {}, h('tr', {}, h('th', {}, 'source'), h('th', {}, 'about'), h('th', {}, 'points to'), h('th', {}, 'observation'), h('th', {}, 'at'))),
        h(
          'tbody',
          {},
          v.evidence.map((e) =>
            h('tr', {}, h('td', {}, e.source), h('td', {}, e.subject), h('td', { class: e.points === 'alive' ? 'ok' : e.points === 'unknown' ? '' : 'bad' }, e.points), h('td', {}, e.observation), h('td', { class: 'muted' }, time(e.at))),
          ),
        ),
        ),
      ),
    );
  }
  return box;
}

function blockBox(c) {
  const box = h(
    'section',
    { class: 'block', 'data-blocked': c.blocked ? 'yes' : 'no' },
    h('h3', {}, 'Automatic failover ', c.blocked ? h('span', { class: 'badge bad' }, 'BLOCKED') : h('span', { class: 'badge ok' }, 'allowed')),
  );
  if (c.blocked) {
    box.append(h('ul', {}, (c.blockedReasons || []).map((r) => h('li', {}, r))));
    box.append(h('p', { class: 'muted' }, `${c.blockedUntil ? `until ${time(c.blockedUntil)}, or ` : ''}until acknowledged (heir ack --cluster ${c.name})`));
  } else {
    box.append(h('p', { class: 'muted' }, 'nothing to acknowledge'));
  }
  if (c.operation) box.append(h('p', { class: 'running' }, `${c.operation} running`));
  return box;
}

function addressBox(c) {
  const a = c.address || { type: 'none' };
  const dl = h('dl', { class: 'facts' }, h('dt', {}, 'type'), h('dd', {}, a.type));
  const add = (k, v, attrs) => {
    if (v !== undefined && v !== null && v !== '') dl.append(h('dt', {}, k), h('dd', attrs || {}, v));
  };
  add('address', a.floatingIp);
  add('holder', a.holder, { 'data-fact': 'holder' });
  add('instance', a.instanceId);
  add('ENI', a.eniId);
  add('state', a.state);
  add('read at', a.checkedAt ? time(a.checkedAt) : null);
  return h('section', { class: 'address', 'data-address-holder': a.holder || '' }, h('h3', {}, 'Address'), dl, a.detail ? h('p', { class: 'muted' }, a.detail) : null);
}

// ---------------------------------------------------------------------------------------------
// Reports as timelines

function outcomeClass(o) {
  if (o === 'promoted' || o === 'switched' || o === 'ok') return 'ok';
  if (o === 'running' || o === 'skipped' || o === 'dry-run' || o === 'refused') return 'warn';
  return 'bad';
}

function timeline(r) {
  if (r.error) return h('li', { class: 'report' }, h('p', { class: 'error' }, `${r.file || 'report'}: ${r.error}`));
  const kind = r.kind || 'report';
  const dur = r.durationMs || 0;
  const v = r.verdict && typeof r.verdict === 'object' ? r.verdict : null;
  const head =
    kind === 'failover'
      ? `${r.trigger || ''} failover: ${r.deadMaster || '?'} → ${r.newMaster || 'none'}`
      : `switchover: ${r.from || '?'} → ${r.to || '?'}`;
  // Failover steps carry name and outcome; switchover steps carry step, node and ok.
  const steps = (Array.isArray(r.steps) ? r.steps : []).map((x) => ({
    ...x,
    name: x.name || `${x.step || '?'}${x.node ? ` ${x.node}` : ''}`,
    outcome: x.outcome || (x.ok === true ? 'ok' : x.ok === false ? 'failed' : '?'),
  }));
  const bar = h(
    'div',
    { class: 'bar' },
    steps.map((s) =>
      h('span', {
        class: `seg ${outcomeClass(s.outcome)}`,
        'data-width': dur > 0 ? Math.max(1, Math.round(((s.durationMs || 0) / dur) * 1000)) : 1,
        title: `${s.name}: ${s.outcome}, ${ms(s.durationMs)}`,
      }),
    ),
  );
  const li = h(
    'li',
    { class: `report ${kind}`, 'data-report': r.id || '', 'data-kind': kind, 'data-outcome': r.outcome || '' },
    h('div', { class: 'report-head' }, h('span', { class: `badge ${outcomeClass(r.outcome)}` }, r.outcome || '?'), h('b', {}, head), h('span', { class: 'muted' }, `${time(r.startedAt)} · ${ms(r.durationMs)}${r.toWritableMs !== undefined && r.toWritableMs !== null ? ` · writable after ${ms(r.toWritableMs)}` : ''}`)),
    h('p', {}, r.summary || ''),
    v ? h('p', { class: 'report-verdict' }, `verdict: ${v.verdict || ''}${v.reason ? ` — ${v.reason}` : ''}`) : typeof r.verdict === 'string' ? h('p', { class: 'report-verdict' }, `verdict: ${r.verdict}`) : null,
    bar,
    h(
      'ol',
      { class: 'steps' },
      steps.map((s) =>
        h(
          'li',
          { class: `step ${outcomeClass(s.outcome)}`, 'data-step': s.name, 'data-outcome': s.outcome },
          h('span', { class: 'step-name' }, s.name),
          h('span', { class: 'step-outcome' }, s.outcome),
          h('span', { class: 'step-ms' }, ms(s.durationMs)),
          h('span', { class: 'step-detail' }, `${s.detail || ''}${s.error ? ` — ${s.error}` : ''}`),
        ),
      ),
    ),
  );
  const lists = [
    ['warning', r.warnings],
    ['next', Array.isArray(r.next) ? r.next : r.next ? [r.next] : []],
    ['error', r.errors],
  ];
  for (const [label, items] of lists) for (const x of items || []) li.append(h('p', { class: label === 'next' ? 'next' : 'warn-text' }, `${label}: ${x}`));
  return li;
}

/** Widths as flex-grow, set through the CSSOM (the page's policy allows no inline style attributes). */
function sizeBars(root) {
  for (const seg of root.querySelectorAll('.seg[data-width]')) seg.style.flexGrow = seg.getAttribute('data-width');
}

function reportsBox(reports) {
  const box = h('section', { class: 'reports' }, h('h3', {}, 'Recent failovers and switchovers'));
  if (!reports) box.append(h('p', { class: 'muted' }, 'reports not read yet'));
  else if (reports.length === 0) box.append(h('p', { class: 'muted' }, 'none'));
  else box.append(h('ol', { class: 'timelines' }, reports.map(timeline)));
  return box;
}

// ---------------------------------------------------------------------------------------------
// Page

const sections = new Map(); // cluster name → { name, el, view, last, status, ui }

function clusterSection(name) {
  let s = sections.get(name);
  if (!s) {
    const view = h('div', { class: 'view' });
    s = { name, el: null, view, last: '', status: null, busy: false, ui: null };
    s.ui = actionsBar(s);
    s.el = h('article', { class: 'cluster', 'data-cluster': name }, view, s.ui.bar);
    sections.set(name, s);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Actions: they need the API token (kept in this tab's sessionStorage only) and a typed
// confirmation; the daemon checks the token on every request.

const TOKEN_KEY = 'heir.api.token';
/** From /health: false when the daemon has no heir.api.token (actions disabled). */
let actionsEnabled = null;

function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

function setToken(t) {
  try {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage refused: the token is not kept */
  }
  refreshActionState();
}

function canAct() {
  return actionsEnabled !== false && token() !== '';
}

function refreshActionState() {
  const state = document.getElementById('token-state');
  state.textContent =
    actionsEnabled === false ? 'actions disabled: the daemon has no heir.api.token' : token() ? 'token set: actions need a confirmation' : 'read-only (no token)';
  state.className = canAct() ? 'ok' : 'muted';
  for (const s of sections.values()) updateActions(s);
}

function setOptions(select, options) {
  const key = JSON.stringify(options);
  if (select.getAttribute('data-options') === key) return;
  const keep = select.value;
  select.replaceChildren(...options.map(([value, label]) => h('option', { value }, label)));
  select.setAttribute('data-options', key);
  if (options.some(([v]) => v === keep)) select.value = keep;
}

function actionsBar(s) {
  const switchTo = h('select', { class: 'switch-to', 'aria-label': 'new master for the switchover' });
  const failoverTo = h('select', { class: 'failover-to', 'aria-label': 'new master for the failover' });
  const switchBtn = h('button', { type: 'button', 'data-action': 'switchover' }, 'Switch over to');
  const failoverBtn = h('button', { type: 'button', class: 'danger', 'data-action': 'failover' }, 'Fail over to');
  const ackBtn = h('button', { type: 'button', 'data-action': 'ack' }, 'Acknowledge');
  const result = h('span', { class: 'action-result', 'aria-live': 'polite' });
  const bar = h('div', { class: 'actions' }, h('span', {}, switchBtn, ' ', switchTo), h('span', {}, failoverBtn, ' ', failoverTo), ackBtn, result);
  switchBtn.addEventListener('click', () => {
    const c = s.status;
    const to = switchTo.value;
    if (!c || !to) return;
    runAction(s, 'switchover', { to }, `Switch over ${c.name} to ${to}?`, `The master of ${c.name} moves from ${c.master || 'the current master'} to ${to}: writes pause briefly, the other replicas follow ${to}, and the address moves with it.`);
  });
  failoverBtn.addEventListener('click', () => {
    const c = s.status;
    if (!c) return;
    const to = failoverTo.value;
    runAction(
      s,
      'failover',
      to ? { to } : {},
      `Fail over ${c.name}?`,
      `The master ${c.master || '(unknown)'} of ${c.name} is declared dead and fenced (read-only, its address taken away) even if it still answers; ${to || 'the best candidate'} becomes the master. Use this only when the master is gone; to move a healthy master, switch over.`,
    );
  });
  ackBtn.addEventListener('click', () => {
    const c = s.status;
    if (!c) return;
    runAction(s, 'ack', {}, `Acknowledge ${c.name}?`, `Automatic failover of ${c.name} is allowed again: the block after the last automatic failover and any unfinished operation's block are lifted (as heir ack --cluster ${c.name}). A dead master waiting only for this is failed over at once.`);
  });
  return { bar, switchTo, failoverTo, switchBtn, failoverBtn, ackBtn, result };
}

function updateActions(s) {
  const c = s.status;
  if (!c) return;
  const others = c.nodes.filter((n) => n.name !== c.master);
  setOptions(s.ui.switchTo, others.filter((n) => n.reachable).map((n) => [n.name, n.name]));
  setOptions(s.ui.failoverTo, [['', 'the best candidate'], ...others.map((n) => [n.name, n.name])]);
  const off = !canAct() || s.busy || !!c.operation;
  s.ui.switchBtn.disabled = off || !s.ui.switchTo.value;
  s.ui.failoverBtn.disabled = off || !c.master;
  s.ui.ackBtn.disabled = off;
  const why = actionsEnabled === false ? 'the daemon has no heir.api.token' : !token() ? 'enter the API token first' : c.operation ? `${c.operation} running` : '';
  for (const b of [s.ui.switchBtn, s.ui.failoverBtn, s.ui.ackBtn]) b.title = why;
}

/** The confirmation: resolves true only when the cluster's name was typed and Confirm pressed. */
function confirmAction(cluster, title, text) {
  const d = document.getElementById('confirm');
  const form = document.getElementById('confirm-form');
  const input = document.getElementById('confirm-input');
  const ok = document.getElementById('confirm-ok');
  const cancel = document.getElementById('confirm-cancel');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-name').textContent = cluster;
  input.value = '';
  ok.disabled = true;
  input.oninput = () => {
    ok.disabled = input.value !== cluster;
  };
  return new Promise((resolve) => {
    const done = (v) => {
      form.onsubmit = null;
      cancel.onclick = null;
      d.oncancel = null;
      if (d.open) d.close();
      resolve(v);
    };
    form.onsubmit = (e) => {
      e.preventDefault();
      if (input.value === cluster) done(true);
    };
    cancel.onclick = () => done(false);
    d.oncancel = (e) => {
      e.preventDefault();
      done(false);
    };
    d.showModal();
    input.focus();
  });
}

async function runAction(s, action, body, title, text) {
  if (!(await confirmAction(s.name, title, text))) return;
  const r = s.ui.result;
  r.textContent = `${action} sent…`;
  r.className = 'action-result running';
  s.busy = true;
  updateActions(s);
  try {
    const res = await fetch(`/clusters/${encodeURIComponent(s.name)}/${action}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token()}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    let b = null;
    try {
      b = await res.json();
    } catch {
      /* no JSON: the status says it */
    }
    const by = b && b.forwardedTo ? ` (forwarded to the leader ${b.forwardedTo.manager})` : '';
    // A switchover or failover is an operation (202): followed until it ends.
    let ok = res.ok;
    if (res.status === 202 && b && b.id) {
      // Forwarded to the cluster's leader (heir.ha), the Location is the leader's: this page
      // asks its own daemon, which relays the operations it forwarded.
      const loc = res.headers.get('Location');
      const where = loc && new URL(loc, location.href).origin === location.origin ? loc : `/api/v1/operations/${encodeURIComponent(b.id)}`;
      while (b.state === 'running') {
        const done = (b.steps || []).filter((x) => x.outcome !== 'running').length;
        r.textContent = `${action} running…${done ? ` ${done} step(s) done` : ''}`;
        await new Promise((w) => setTimeout(w, 300));
        b = await getJson(where);
      }
      ok = b.state === 'succeeded';
      b = { message: (b.result && b.result.message) || (b.error && b.error.message) || b.state };
    }
    const msg = (b && (b.message || b.error)) || `HTTP ${res.status}`;
    r.textContent = res.ok ? `${action}${by}: ${msg}` : `${action} refused (HTTP ${res.status})${by}: ${msg}`;
    r.className = `action-result ${ok ? 'ok' : 'bad'}`;
  } catch (e) {
    r.textContent = `${action}: ${e && e.message ? e.message : e}`;
    r.className = 'action-result bad';
  } finally {
    s.busy = false;
    updateActions(s);
  }
}

function render(c, reports) {
  const s = clusterSection(c.name);
  s.status = c;
  updateActions(s);
  const key = JSON.stringify([c, reports]);
  if (key === s.last) return s.el;
  s.last = key;
  const view = h(
    'div',
    { class: 'view' },
    h('h2', {}, c.name, ' ', h('span', { class: 'muted' }, `master ${c.master || 'unknown'} · snapshot ${time(c.snapshotAt)}`)),
    h('div', { class: 'grid' }, h('section', { class: 'topology' }, h('h3', {}, 'Replication'), tree(c)), h('div', { class: 'side' }, verdictBox(c), blockBox(c), addressBox(c))),
    reportsBox(reports),
  );
  sizeBars(view);
  // What the reader opened stays open across updates.
  if (s.view.querySelector('.evidence-box[open]')) view.querySelector('.evidence-box')?.setAttribute('open', '');
  s.view.replaceWith(view);
  s.view = view;
  return s.el;
}

function showError(text) {
  const e = document.getElementById('error');
  e.hidden = !text;
  e.textContent = text || '';
}

async function poll() {
  const [health, list] = await Promise.all([getJson('/health'), getJson('/clusters')]);
  const clusters = list.clusters || [];
  const reports = await Promise.all(
    clusters.map((c) => getJson(`/clusters/${encodeURIComponent(c.name)}/reports?limit=${REPORTS_SHOWN}`).then((r) => r.reports, () => null)),
  );
  if (actionsEnabled !== (health.actions_enabled !== false)) {
    actionsEnabled = health.actions_enabled !== false;
    refreshActionState();
  }
  document.getElementById('daemon').textContent = `${health.status}${health.version ? ` · ${health.version}` : ''} · ${clusters.length} cluster(s)`;
  const main = document.getElementById('clusters');
  const els = clusters.map((c, i) => render(c, reports[i]));
  for (const [name, s] of sections) if (!clusters.some((c) => c.name === name)) (s.el.remove(), sections.delete(name));
  els.forEach((el, i) => {
    if (main.children[i] !== el) main.insertBefore(el, main.children[i] || null);
  });
  document.body.setAttribute('data-updated', String(Date.now()));
  document.getElementById('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
}

async function loop() {
  for (;;) {
    const started = Date.now();
    try {
      await poll();
      showError('');
    } catch (e) {
      showError(`cannot read the daemon: ${e && e.message ? e.message : e}`);
    }
    await new Promise((r) => setTimeout(r, Math.max(100, POLL_MS - (Date.now() - started))));
  }
}

document.getElementById('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = document.getElementById('token');
  setToken(input.value.trim());
  input.value = '';
});
document.getElementById('token-forget').addEventListener('click', () => setToken(''));
refreshActionState();
loop();

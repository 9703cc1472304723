// The operator dashboard's page script: polls /dashboard/data and redraws. Text goes in
// through textContent only (error messages and summaries come from outside).
/* global uPlot */
(function () {
  'use strict';
  const POLL_MS = 5000;
  const COLORS = { email: '#2759c5', sms: '#8e44ad', slack: '#e0a100', webhook: '#16a085', inapp: '#d35400', pager: '#c0392b' };
  const color = (channel) => COLORS[channel] || '#555';
  const charts = {};
  const $ = (id) => document.getElementById(id);

  const fmtMs = (ms) => (ms == null ? '–' : ms < 1000 ? `${Math.round(ms)} ms` : ms < 60000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60000).toFixed(1)} min`);
  const fmtPct = (x) => `${(x * 100).toFixed(x > 0 && x < 0.1 ? 1 : 0)}%`;
  const fmtTime = (iso) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === 'text') node.textContent = v;
      else if (k === 'class') node.className = v;
      else if (k === 'data') Object.assign(node.dataset, v);
      else if (k === 'css') Object.assign(node.style, v); // the CSSOM, which the page's CSP allows
      else node.setAttribute(k, v);
    }
    for (const c of children) if (c != null) node.append(c);
    return node;
  }
  const td = (text, cls, col) => el('td', { text: String(text), ...(cls ? { class: cls } : {}), ...(col ? { data: { col } } : {}) });
  const runLink = (url) => (url && /^https?:\/\//.test(url) ? el('a', { href: url, target: '_blank', rel: 'noopener noreferrer', class: 'run-link', text: 'Open run ↗' }) : '–');

  function fill(tbody, rows, columns, emptyText) {
    tbody.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: String(columns), class: 'empty', text: emptyText }))]));
  }

  function drawChart(id, minutes, perChannel) {
    const target = $(id);
    const channels = Object.keys(perChannel);
    const key = channels.join(',');
    const data = [minutes, ...channels.map((c) => perChannel[c])];
    const width = Math.max(300, target.clientWidth);
    let chart = charts[id];
    if (chart && chart.key === key) {
      chart.plot.setData(data);
      return;
    }
    if (chart) chart.plot.destroy();
    const plot = new uPlot(
      {
        width,
        height: 220,
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(4, max)] } },
        series: [{}, ...channels.map((c) => ({ label: c, stroke: color(c), fill: `${color(c)}22`, width: 2, points: { show: false } }))],
        axes: [{}, { size: 40 }],
        legend: { live: false },
      },
      data,
      target,
    );
    charts[id] = { key, plot };
  }

  function render(d) {
    const sent = d.channels.reduce((a, c) => a + c.sent, 0);
    const failed = d.channels.reduce((a, c) => a + c.failed, 0);
    $('kpi-accepted').textContent = d.accepted;
    $('kpi-sent').textContent = sent;
    $('kpi-failed').textContent = failed;
    $('kpi-failed').classList.toggle('bad', failed > 0);
    $('kpi-latency').textContent = `${fmtMs(d.latency.p50Ms)} · ${fmtMs(d.latency.p95Ms)} · ${fmtMs(d.latency.p99Ms)}`;
    $('kpi-incidents').textContent = d.openIncidents.total;
    $('kpi-incidents').classList.toggle('bad', d.openIncidents.total > 0);

    drawChart('chart-sent', d.series.minutes, d.series.sent);
    drawChart('chart-failed', d.series.minutes, d.series.failed);

    fill(
      document.querySelector('#channels tbody'),
      d.channels.map((c) =>
        el(
          'tr',
          { data: { channel: c.channel } },
          el('td', { data: { col: 'channel' } }, el('span', { class: 'swatch', css: { background: color(c.channel) } }), c.channel),
          td(c.sent, 'num', 'sent'),
          td((c.sent / d.windowMinutes).toFixed(2), 'num', 'rate'),
          td(c.failed, c.failed ? 'num bad' : 'num', 'failed'),
          td(fmtPct(c.failureRate), c.failureRate ? 'num bad' : 'num', 'failure-rate'),
          td(c.skipped, 'num', 'skipped'),
          td(c.sending, 'num', 'sending'),
          td(fmtMs(c.p50Ms), 'num', 'p50'),
          td(fmtMs(c.p95Ms), 'num', 'p95'),
          td(fmtMs(c.p99Ms), 'num', 'p99'),
        ),
      ),
      10,
      'No deliveries in the last hour',
    );

    fill(
      document.querySelector('#incidents tbody'),
      d.openIncidents.data.map((i) =>
        el(
          'tr',
          { data: { incident: i.id } },
          td(fmtTime(i.createdAt)),
          td(i.tenant),
          el('td', {}, el('span', { class: `sev sev-${i.severity}`, text: i.severity })),
          td(i.summary, '', 'summary'),
          td(i.status, '', 'status'),
          td(`${i.step + 1}${i.cycle ? ` (pass ${i.cycle + 1})` : ''}`, 'num'),
          el('td', {}, runLink(i.workflowUrl)),
        ),
      ),
      7,
      'No open incidents',
    );

    fill(
      document.querySelector('#failures tbody'),
      d.recentFailures.map((f) =>
        el(
          'tr',
          { data: { notification: f.notificationId, channel: f.channel } },
          td(fmtTime(f.at)),
          td(f.tenant),
          td(f.recipient, '', 'recipient'),
          td(f.template),
          td(f.channel, '', 'channel'),
          el('td', { data: { col: 'error' } }, el('code', { text: f.errorCode || f.status }), el('div', { class: 'msg', text: f.errorMessage || '' })),
          td(f.attempts, 'num'),
          el('td', {}, runLink(f.workflowUrl)),
        ),
      ),
      8,
      'No failed deliveries',
    );
  }

  // One tenant's view: the figures of GET /v1/analytics/deliveries over the last 24 hours.
  let tenantsLoaded = false;
  async function loadTenants() {
    const res = await fetch('/dashboard/tenants', { credentials: 'same-origin', cache: 'no-store' });
    if (!res.ok) return;
    const select = $('tenant-choice');
    const chosen = select.value;
    select.replaceChildren(el('option', { value: '', text: '–' }), ...(await res.json()).data.map((t) => el('option', { value: t.id, text: t.name })));
    select.value = chosen;
    tenantsLoaded = true;
  }

  function renderTenant(d) {
    $('tenant-status').textContent = `${d.tenant.name} · last ${d.windowHours} h · updated ${fmtTime(d.at)}`;
    for (const k of ['sent', 'delivered', 'failed', 'bounced', 'skipped']) $(`tenant-${k}`).textContent = d.total[k];
    $('tenant-failed').classList.toggle('bad', d.total.failed > 0);
    $('tenant-latency').textContent = `${fmtMs(d.total.latencyMs.p50)} · ${fmtMs(d.total.latencyMs.p95)} · ${fmtMs(d.total.latencyMs.p99)}`;
    fill(
      document.querySelector('#tenant-channels tbody'),
      d.channels.map((c) =>
        el(
          'tr',
          { data: { channel: c.channel } },
          el('td', { data: { col: 'channel' } }, el('span', { class: 'swatch', css: { background: color(c.channel) } }), c.channel),
          td(c.sent, 'num', 'sent'),
          td(c.delivered, 'num', 'delivered'),
          td(c.failed, c.failed ? 'num bad' : 'num', 'failed'),
          td(c.bounced, 'num', 'bounced'),
          td(c.skipped, 'num', 'skipped'),
          td(fmtMs(c.latencyMs.p50), 'num', 'p50'),
          td(fmtMs(c.latencyMs.p95), 'num', 'p95'),
          td(fmtMs(c.latencyMs.p99), 'num', 'p99'),
        ),
      ),
      9,
      'No deliveries in the last 24 hours',
    );
    fill(
      document.querySelector('#tenant-failures tbody'),
      d.recentFailures.map((f) =>
        el(
          'tr',
          { data: { notification: f.notificationId, channel: f.channel } },
          td(fmtTime(f.at)),
          td(f.recipient, '', 'recipient'),
          td(f.template || '–'),
          td(f.channel, '', 'channel'),
          el('td', { data: { col: 'error' } }, el('code', { text: f.errorCode || 'failed' }), el('div', { class: 'msg', text: f.errorMessage || '' })),
          td(f.attempts, 'num'),
          el('td', {}, runLink(f.workflowUrl)),
        ),
      ),
      7,
      'No failed deliveries',
    );
    document.body.dataset.tenantLoaded = String(Number(document.body.dataset.tenantLoaded || 0) + 1);
  }

  async function pollTenant() {
    const id = $('tenant-choice').value;
    if (!id) return;
    const res = await fetch(`/dashboard/tenants/${encodeURIComponent(id)}/data`, { credentials: 'same-origin', cache: 'no-store' });
    if (!res.ok) {
      $('tenant-status').textContent = `not updated: HTTP ${res.status}`;
      return;
    }
    renderTenant(await res.json());
  }
  $('tenant-choice').addEventListener('change', () => {
    pollTenant().catch((err) => ($('tenant-status').textContent = `not updated: ${err.message}`));
  });

  async function poll() {
    const status = $('status');
    try {
      const res = await fetch('/dashboard/data', { credentials: 'same-origin', cache: 'no-store' });
      if (!res.ok) throw new Error(res.status === 401 ? 'session expired: open /dashboard?token=… again' : `HTTP ${res.status}`);
      const data = await res.json();
      render(data);
      if (!tenantsLoaded || !$('tenant-choice').value) await loadTenants();
      await pollTenant();
      status.className = 'live';
      status.textContent = `live · updated ${fmtTime(data.at)} · every ${POLL_MS / 1000} s`;
      document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
    } catch (err) {
      status.className = 'stale';
      status.textContent = `not updated: ${err.message}`;
    }
    setTimeout(poll, POLL_MS);
  }

  window.addEventListener('resize', () => {
    for (const id of Object.keys(charts)) charts[id].plot.setSize({ width: Math.max(300, $(id).clientWidth), height: 220 });
  });
  poll();
})();

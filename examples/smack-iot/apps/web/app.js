// Dashboard: every second, GET meter's /cluster/members and simulator's /status through the external
// load balancer (URLs from /config.json) and render them.
'use strict';

const $ = (id) => document.getElementById(id);
const fmt = new Intl.NumberFormat('en-US');
const num = (n, digits = 1) => (typeof n === 'number' ? n.toFixed(digits) : '–');

function esc(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

async function getJson(url) {
  const res = await fetch(url, { cache: 'no-store' });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

function renderMembers(cluster) {
  // In seed-list order (oldest task first, as baton-env orders them); others and unreachable ones last.
  const order = (cluster.members ?? []).reduce((longest, m) => (m.seeds && m.seeds.length > longest.length ? m.seeds : longest), []);
  const rank = (m) => (m.self && order.includes(m.self) ? order.indexOf(m.self) : order.length);
  const members = [...(cluster.members ?? [])].sort((a, b) => rank(a) - rank(b) || a.member.localeCompare(b.member));
  $('instances').textContent = String(members.length);
  $('srv').textContent = `${cluster.srv} via ${cluster.via}`;
  const rows = members.map((m) => {
    if (!m.ok) return `<tr><td><code>${esc(m.member)}</code></td><td><span class="badge down">unreachable</span></td><td colspan="3" class="small">${esc(m.error)}</td></tr>`;
    const role = m.founder ? '<span class="badge founder">founded the cluster</span>' : '<span class="badge">joined</span>';
    const seeds = `<ol class="seeds">${m.seeds.map((s) => `<li><code>${esc(s)}</code>${s === m.self ? ' <span class="small">(self)</span>' : ''}</li>`).join('')}</ol>`;
    return `<tr data-member="${esc(m.member)}"><td><code>${esc(m.member)}</code></td><td>${role}</td><td>${seeds}</td><td class="received">${fmt.format(m.received)}</td><td class="small">${esc(new Date(m.startedAt).toLocaleTimeString())}</td></tr>`;
  });
  $('members').tBodies[0].innerHTML = rows.join('');

  const ok = members.filter((m) => m.ok);
  $('received').textContent = fmt.format(ok.reduce((sum, m) => sum + m.received, 0));
  const kinds = {};
  for (const m of ok) {
    for (const [kind, a] of Object.entries(m.kinds ?? {})) {
      const k = (kinds[kind] ??= { count: 0, sum: 0, min: Infinity, max: -Infinity });
      k.count += a.count;
      k.sum += a.sum;
      k.min = Math.min(k.min, a.min);
      k.max = Math.max(k.max, a.max);
    }
  }
  $('kinds').tBodies[0].innerHTML = Object.keys(kinds)
    .sort()
    .map((kind) => {
      const k = kinds[kind];
      return `<tr><td>${esc(kind)}</td><td>${fmt.format(k.count)}</td><td>${num(k.min)}</td><td>${num(k.sum / k.count)}</td><td>${num(k.max)}</td></tr>`;
    })
    .join('');
}

function renderSimulator(s) {
  $('sent').textContent = fmt.format(s.sent);
  $('rate').textContent = `${fmt.format(s.ratePerSecond)} readings/s from ${s.devices} devices`;
  $('broker-count').textContent = String(s.kafka.brokers.length);
  $('brokers').textContent = s.kafka.brokers.join(', ') || 'none';
  const servedBy = Object.entries(s.servedBy)
    .map(([instance, n]) => `<code>${esc(instance)}</code>: ${fmt.format(n)}`)
    .join('<br>');
  const rows = [
    ['meter address', `<code>${esc(s.meter.host)}:${s.meter.port}</code>`],
    ['resolved to', `<code>${esc(s.meter.resolvedTo ?? 'not yet')}</code> via DNS <code>${esc(s.meter.dnsServer)}</code>`],
    ['batches', `${fmt.format(s.batches)} (${s.retriedBatches} retried, <span class="${s.failedBatches ? 'bad' : 'ok'}">${s.failedBatches} failed</span>)`],
    ['readings by meter instance', servedBy || '–'],
    ['Kafka brokers from', esc(s.kafka.source)],
  ];
  $('simulator').tBodies[0].innerHTML = rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('');
}

async function refresh(config) {
  const [cluster, sim] = await Promise.allSettled([getJson(`${config.meterUrl}/cluster/members`), getJson(`${config.simulatorUrl}/status`)]);
  const errors = [];
  if (cluster.status === 'fulfilled') renderMembers(cluster.value);
  else errors.push(`meter: ${cluster.reason.message}`);
  if (sim.status === 'fulfilled') renderSimulator(sim.value);
  else errors.push(`simulator: ${sim.reason.message}`);
  $('error').style.display = errors.length ? 'block' : 'none';
  $('error').textContent = errors.join(' · ');
  $('updated').textContent = `updated ${new Date().toLocaleTimeString()} · meter ${config.meterUrl} · simulator ${config.simulatorUrl}`;
}

(async () => {
  const config = await getJson('config.json');
  const tick = () => refresh(config).catch((error) => ($('error').textContent = error.message)).finally(() => setTimeout(tick, 1000));
  tick();
})();

// `npm run bench:mixed`: priority lanes and tenant fairness under load, on the stack booted as
// `npm start` boots it (embedded dev server, PGlite, free ports, a temporary DATA_DIR) in its own
// process (bench/forked-stack.ts); this process is the clients and the webhook receiver.
//
//   1. Tenant A floods 1,000 `normal` webhook notifications; tenant B meanwhile sends a few per
//      second. B's accepted → arrived p95 shows whether A's flood starves B (fairness).
//   2. Tenant A broadcasts to webhook recipients (one notification workflow each, lane 5);
//      tenant B meanwhile sends `critical` notifications. Their p95 shows the priority lane.
//
//   MIXED_FLOOD=1000 MIXED_BROADCAST=3000 npm run bench:mixed
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { createTocsinClient, ok } from '../client/index.js';
import { startForkedStack } from './forked-stack.js';
import { closedLoop, openLoop, pct, type Sent } from './load.js';
import { startReceiver } from './receiver.js';
import { stageRows } from './stages.js';
import { workflowIds } from '../domain/workflow-ids.js';

const FLOOD = Number(process.env.MIXED_FLOOD ?? 1000);
const BROADCAST = Number(process.env.MIXED_BROADCAST ?? 3000);
const log = (m: string) => process.stderr.write(`[mixed] ${m}\n`);

const receiver = await startReceiver();
const stack = await startForkedStack('mixed', { WEBHOOK_ALLOWED_HOSTS: '127.0.0.1' }, log);
let exitCode = 1;
try {
  const running = await stack.ready;
  const client = (token: string) => createTocsinClient({ baseUrl: running.apiUrl, token });
  const tenant = async (name: string, recipients: number) => {
    const t = await ok(client(running.adminToken).POST('/v1/admin/tenants', { body: { name } }));
    const api = client(t.apiKey);
    for (let i = 0; i < recipients; i += 1000)
      await ok(
        api.POST('/v1/recipients/bulk', {
          body: { recipients: Array.from({ length: Math.min(1000, recipients - i) }, (_, j) => ({ id: `r-${i + j}`, webhookUrl: receiver.url })) },
        }),
      );
    await ok(api.POST('/v1/templates', { body: { key: 'ping', content: { en: { webhook: { text: 'ping {{ n }}' } } } } }));
    return { key: t.apiKey, id: t.id };
  };
  const tenantA = await tenant('tenant-a', Math.max(BROADCAST, 1));
  const tenantB = await tenant('tenant-b', 1);
  const [a, b] = [tenantA.key, tenantB.key];
  const notify = (key: string, priority: 'normal' | 'critical') => async (i: number) => {
    const r = await ok(client(key).POST('/v1/notifications', { body: { recipient: 'r-0', template: 'ping', data: { n: i }, channels: ['webhook'], priority } }));
    return { id: r.id, acceptedAt: performance.now() };
  };
  const latencies = async (sent: Sent[]) => {
    await receiver.waitFor(sent.map((s) => s.id), 120_000);
    return sent.map((s) => receiver.arrivals.get(s.id)! - s.dueAt);
  };
  const row = (name: string, ms: number[]) => `| ${name} | ${ms.length} | ${pct(ms, 50).toFixed(0)} ms | ${pct(ms, 95).toFixed(0)} ms | ${pct(ms, 99).toFixed(0)} ms |`;

  // 1. Fairness: A floods, B sends 2/s meanwhile.
  log(`1. tenant A floods ${FLOOD} normal notifications; tenant B sends 2/s`);
  const flood = closedLoop(FLOOD, 32, notify(a, 'normal'));
  const bNormal = await openLoop(2, 10, notify(b, 'normal'));
  const floodSent = await flood;
  const bFairness = await latencies(bNormal.sent);
  const aFlood = await latencies(floodSent);
  const accepted = (label: string, sent: Sent[]) => {
    const v = sent.map((s) => s.acceptedAt - s.dueAt);
    return `| ${label} | request → 202 | ${pct(v, 50).toFixed(0)} ms | ${pct(v, 95).toFixed(0)} ms |`;
  };
  const stages = [
    accepted("tenant B's sends", bNormal.sent),
    ...(await stageRows(running.temporalAddress, 'default', bNormal.sent.map((s) => workflowIds.notification(tenantB.id, s.id)), "tenant B's sends")),
    ...(await stageRows(running.temporalAddress, 'default', floodSent.slice(-100).map((s) => workflowIds.notification(tenantA.id, s.id)), "tenant A's last 100")),
    accepted("tenant A's last 100", floodSent.slice(-100)),
  ];

  // 2. Priority: A broadcasts to webhook recipients (lane 5), B sends critical ones meanwhile.
  log(`2. tenant A broadcasts to ${BROADCAST} webhook recipients; tenant B sends critical 2/s`);
  const bc = await ok(client(a).POST('/v1/broadcasts', { body: { all: true, template: 'ping', data: { n: 0 }, channels: ['webhook'] } }));
  await new Promise((r) => setTimeout(r, 2000));
  const critical = await openLoop(2, 10, notify(b, 'critical'));
  const bCritical = await latencies(critical.sent);
  const progress = await ok(client(a).GET('/v1/broadcasts/{id}', { params: { path: { id: bc.id } } }));

  const report = [
    `# Mixed benchmark ${new Date().toISOString()}`,
    '',
    `Command: \`MIXED_FLOOD=${FLOOD} MIXED_BROADCAST=${BROADCAST} npm run bench:mixed\`; ${cpus().length} cores; database ${running.database}; the embedded dev server with priority and fairness on.`,
    '',
    'Accepted → arrived at the webhook receiver, counted from when each request was due.',
    '',
    '| sends | count | p50 | p95 | p99 |',
    '| --- | --- | --- | --- | --- |',
    row(`tenant A's flood (normal, 32 in flight)`, aFlood),
    row(`tenant B, normal, 2/s during A's flood`, bFairness),
    row(`tenant B, critical, 2/s while A's broadcast of ${BROADCAST} drains`, bCritical),
    '',
    'Where the time went during the flood (from the workflow histories; waits are scheduled → started on the server):',
    '',
    '| runs | stage | p50 | p95 |',
    '| --- | --- | --- | --- |',
    ...stages,
    '',
    `The broadcast when the critical sends were done: ${JSON.stringify({ sent: progress.sent, pending: progress.pending, total: progress.total })}.`,
    `Duplicate arrivals at the receiver: ${receiver.duplicates()}.`,
    '',
  ].join('\n');
  process.stdout.write(report);
  const file = join('bench', 'results', `mixed-${new Date().toISOString().slice(0, 10)}.md`);
  writeFileSync(file, report);
  log(`wrote ${file}`);
  exitCode = 0;
} catch (err) {
  log(`failed: ${(err as Error).stack ?? err}`);
} finally {
  await stack.stop();
  await receiver.close();
}
process.exit(exitCode);

// `npm run rolling-deploy`: a rolling deploy of changed workflow code on the production shape
// (issue 24). The cluster (scripts/cluster-stack.ts) starts with two workers of build A; 200
// notifications wait in sendAt timers and 5 incidents are open; two workers of build B (the
// notification workflow changed behind patched(): scripts/rolling-deploy/workflows-b.ts) start
// beside them; B is ramped and made current with the temporal CLI; A's workers stop. Then every
// notification must reach the webhook receiver exactly once, every incident escalate on B and
// acknowledge, and the histories show runs on both builds. Writes bench/results/rolling-deploy-<date>.md.
// Settings: ROLLING_NOTIFICATIONS (200), ROLLING_INCIDENTS (5), ROLLING_SEND_DELAY_SECONDS (sendAt
// this long after the first accept; 180), ROLLING_ACK_TIMEOUT_SECONDS (an incident step's timeout; 60).
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { EncryptionCodec, encryptedDataConverter, parseEncryptionKeys } from '../usecases/payload-codec.js';
import { startCluster, tempDataDir, type Cluster } from './cluster-stack.js';
import { ensureCli } from './setup-temporal.mjs';

const N = Number(process.env.ROLLING_NOTIFICATIONS ?? 200);
const INCIDENTS = Number(process.env.ROLLING_INCIDENTS ?? 5);
const SEND_DELAY_S = Number(process.env.ROLLING_SEND_DELAY_SECONDS ?? 180);
const ACK_TIMEOUT_S = Number(process.env.ROLLING_ACK_TIMEOUT_SECONDS ?? 60);
const BUILD_A = 'rolling-a';
const BUILD_B = 'rolling-b';
const root = fileURLToPath(new URL('..', import.meta.url));
const t0 = Date.now();
const lines: string[] = [];
const say = (m: string) => {
  const line = `[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${m}`;
  lines.push(line);
  process.stdout.write(`${line}\n`);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number, everyMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** The provider side: every webhook POST counted by its webhook-id and by path. */
async function startReceiver() {
  const byId = new Map<string, number>();
  const byPath = new Map<string, number>();
  const pages: Array<{ path: string; body: any; at: number }> = [];
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    const id = String(req.headers['webhook-id'] ?? '');
    byId.set(id, (byId.get(id) ?? 0) + 1);
    const path = (req.url ?? '/').split('?')[0];
    byPath.set(path, (byPath.get(path) ?? 0) + 1);
    if (path.startsWith('/page')) pages.push({ path, body: JSON.parse(body || 'null'), at: Date.now() });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, byId, byPath, pages, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function main() {
  const dataDir = tempDataDir('tocsin-rolling-');
  const receiver = await startReceiver();
  const cli = ensureCli();
  let cluster: Cluster | undefined;
  try {
    cluster = await startCluster({
      dataDir,
      env: { LOG_LEVEL: 'warn', WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', DELIVERY_INITIAL_INTERVAL_SECONDS: '1' },
      workerEnv: [{ TEMPORAL_BUILD_ID: BUILD_A }, { TEMPORAL_BUILD_ID: BUILD_A }],
      log: (m) => say(`cluster: ${m}`),
    });
    const c = cluster;
    const temporal = (...args: string[]) => {
      let out: string;
      try {
        out = execFileSync(cli, [...args, '--address', c.frontends[1], '--namespace', c.namespace], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
      } catch (err) {
        throw new Error(`temporal ${args.join(' ')}: ${String((err as { stderr?: Buffer }).stderr ?? err).split('\n')[0]}`);
      }
      say(`$ temporal ${args.join(' ')}\n${out.trimEnd().replace(/^/gm, '    ')}`);
      return out;
    };
    const call = async (i: number, method: string, path: string, token: string, body?: unknown) => {
      const res = await fetch(`${c.apiUrls[i % c.apiUrls.length]}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    };
    const expectStatus = (r: { status: number; body: unknown }, status: number, what: string) => {
      if (r.status !== status) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body as any;
    };

    const tenant = expectStatus(await call(0, 'POST', '/v1/admin/tenants', c.adminToken, { name: 'Rolling' }), 201, 'tenant');
    const api = (i: number, method: string, path: string, body?: unknown) => call(i, method, path, tenant.apiKey, body);
    expectStatus(await api(0, 'PUT', '/v1/recipients/ann', { name: 'Ann', webhookUrl: `${receiver.url}/hooks` }), 200, 'recipient');
    expectStatus(await api(1, 'POST', '/v1/templates', { key: 'release', content: { en: { webhook: { event: 'release', n: '{{ n }}' } } } }), 201, 'template');
    expectStatus(
      await api(0, 'PUT', '/v1/escalation-policies/ops', {
        steps: [
          { channel: 'webhook', target: `${receiver.url}/page/1`, ackTimeoutSeconds: ACK_TIMEOUT_S },
          { channel: 'webhook', target: `${receiver.url}/page/2`, ackTimeoutSeconds: ACK_TIMEOUT_S },
        ],
        repeat: 3,
      }),
      200,
      'policy',
    );

    // 1. Build A: N notifications waiting in sendAt timers, through both APIs, and the incidents.
    const sendAt = new Date(Date.now() + SEND_DELAY_S * 1000).toISOString();
    const ids: string[] = [];
    for (let start = 0; start < N; start += 20) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(20, N - start) }, (_, k) => api(start + k, 'POST', '/v1/notifications', { recipient: 'ann', template: 'release', data: { n: start + k }, channels: ['webhook'], sendAt })),
      );
      for (const r of batch) ids.push(expectStatus(r, 202, 'notification').id);
    }
    say(`build A: ${ids.length} notifications accepted, all waiting for sendAt ${sendAt}`);
    const incidents: string[] = [];
    for (let i = 0; i < INCIDENTS; i++) incidents.push(expectStatus(await api(i, 'POST', '/v1/incidents', { policy: 'ops', summary: `Rolling incident ${i}`, severity: 'critical', dedupKey: `rolling-${i}` }), 202, 'incident').id);
    await until('the first page of every incident', async () => receiver.byPath.get('/page/1') ?? 0, (n) => n >= INCIDENTS, 120_000);
    const scheduled = await until(
      'every notification scheduled',
      async () => (await Promise.all(ids.map((id, i) => api(i, 'GET', `/v1/notifications/${id}`)))).filter((r) => r.body.status === 'scheduled').length,
      (n) => n === N,
      120_000,
      2000,
    );
    say(`build A: ${scheduled}/${N} notifications scheduled; ${INCIDENTS} incidents open, each paged at step 1 (${receiver.byPath.get('/page/1')} pages)`);
    temporal('worker', 'deployment', 'describe', '--name', 'tocsin');

    // 2. Build B beside A, not current yet: then ramp, then current.
    const entryB = join(root, 'scripts/rolling-deploy/worker-b.ts');
    await Promise.all([0, 1].map((node) => c.startWorker(`worker-b-${node + 1}`, node, { TEMPORAL_BUILD_ID: BUILD_B, TEMPORAL_SET_CURRENT_VERSION: 'false' }, entryB)));
    say('build B: two workers polling (not current)');
    temporal('worker', 'deployment', 'set-ramping-version', '--deployment-name', 'tocsin', '--build-id', BUILD_B, '--percentage', '25', '--yes');
    await sleep(5000);
    temporal('worker', 'deployment', 'set-current-version', '--deployment-name', 'tocsin', '--build-id', BUILD_B, '--yes');
    temporal('worker', 'deployment', 'describe', '--name', 'tocsin');
    const switchedAt = Date.now();

    // 3. A's workers stop (SIGTERM: they finish their tasks in hand).
    for (const name of ['worker-1', 'worker-2']) await c.stopProc(name, 'SIGTERM', 60_000);
    say('build A: workers stopped');
    temporal('worker', 'deployment', 'describe-version', '--deployment-name', 'tocsin', '--build-id', BUILD_A);

    // 4. The incidents escalate on B (step 2 after their step-1 timeout), then are acknowledged.
    await until('an escalation of every incident on build B', async () => receiver.pages.filter((p) => p.at > switchedAt).length, (n) => n >= INCIDENTS, (ACK_TIMEOUT_S + 120) * 1000);
    say(`build B: the incidents escalated again (${receiver.pages.filter((p) => p.at > switchedAt).length} pages since B became current; ${receiver.pages.length} in all)`);
    for (const [i, id] of incidents.entries()) {
      const r = expectStatus(await api(i + 1, 'POST', `/v1/incidents/${id}/acknowledge`, { by: 'ann' }), 200, 'acknowledge');
      if (r.status !== 'acknowledged') throw new Error(`incident ${id}: ${r.status}`);
    }
    const pagesAtAck = receiver.pages.length;
    say(`build B: ${INCIDENTS} incidents acknowledged (${pagesAtAck} pages so far)`);

    // 5. Every notification sent exactly once, on B.
    const sent = await until(
      'every notification sent',
      async () => (await Promise.all(ids.map((id, i) => api(i, 'GET', `/v1/notifications/${id}`)))).filter((r) => r.body.status === 'sent').length,
      (n) => n === N,
      (SEND_DELAY_S + 300) * 1000,
      2000,
    );
    const deliveries = ids.map((id) => receiver.byId.get(`${id}.webhook`) ?? 0);
    const once = deliveries.filter((n) => n === 1).length;
    const duplicates = deliveries.filter((n) => n > 1).length;
    const lost = deliveries.filter((n) => n === 0).length;
    say(`notifications: ${sent}/${N} sent; the receiver got ${once} exactly once, ${duplicates} more than once, ${lost} never`);
    // No page after an acknowledgement, for longer than a step's timeout.
    await sleep((ACK_TIMEOUT_S + 5) * 1000);
    const pagesAfterAck = receiver.pages.length - pagesAtAck;
    const timelines = await Promise.all(incidents.map((id, i) => api(i, 'GET', `/v1/incidents/${id}`)));
    const incidentStates = timelines.map((t) => ({ status: t.body.status, types: t.body.timeline.map((e: { type: string }) => e.type) }));
    say(`incidents: ${incidentStates.map((s) => `${s.status} [${s.types.join(', ')}]`).join('; ')}; pages after acknowledgement: ${pagesAfterAck}`);

    // 6. Histories: which builds completed each run's workflow tasks.
    const keys = parseEncryptionKeys(c.tocsinEnv.TOCSIN_ENCRYPTION_KEYS);
    const connection = await Connection.connect({ address: c.frontends[0] });
    const client = new Client({ connection, namespace: c.namespace, dataConverter: encryptedDataConverter(new EncryptionCodec(keys)) });
    const buildsOf = async (workflowId: string) => {
      const history = await client.workflow.getHandle(workflowId).fetchHistory();
      const builds = new Set<string>();
      for (const e of history.events ?? []) {
        const a = e.workflowTaskCompletedEventAttributes;
        const b = a?.deploymentVersion?.buildId ?? a?.workerVersion?.buildId;
        if (b) builds.add(b);
      }
      return [...builds].sort();
    };
    const runBuilds = await Promise.all(ids.map((id) => buildsOf(`notification:${tenant.id}:${id}`)));
    const both = runBuilds.filter((b) => b.includes(BUILD_A) && b.includes(BUILD_B)).length;
    const memos = await Promise.all(ids.map(async (id) => (await client.workflow.getHandle(`notification:${tenant.id}:${id}`).describe()).memo?.finishedBy));
    const finishedByB = memos.filter((m) => m === 'B').length;
    const incidentBuilds = await Promise.all(incidents.map((_, i) => buildsOf(`incident:${tenant.id}:rolling-${i}`)));
    const incidentsBoth = incidentBuilds.filter((b) => b.includes(BUILD_A) && b.includes(BUILD_B)).length;
    await connection.close();
    say(`histories: ${both}/${N} notification runs have workflow tasks completed by both ${BUILD_A} and ${BUILD_B}; ${finishedByB}/${N} carry B's patched change (memo finishedBy=B); ${incidentsBoth}/${INCIDENTS} incident runs span both builds`);

    const ok =
      sent === N && once === N && duplicates === 0 && lost === 0 && pagesAfterAck === 0 && both === N && finishedByB === N && incidentsBoth === INCIDENTS &&
      incidentStates.every((s) => s.status === 'acknowledged' && s.types.includes('escalated') && s.types.includes('acknowledged'));
    say(`peak RSS (MB): ${Object.entries(c.peakRssMb()).map(([n, mb]) => `${n} ${mb}`).join(', ')}`);
    say(ok ? 'ROLLING DEPLOY OK' : 'ROLLING DEPLOY FAILED');

    const date = new Date().toISOString().slice(0, 10);
    const file = join(root, 'bench/results', `rolling-deploy-${date}.md`);
    mkdirSync(join(root, 'bench/results'), { recursive: true });
    writeFileSync(
      file,
      `# Rolling deploy on the production shape (${date})\n\nCommand: \`npm run rolling-deploy\` (ROLLING_NOTIFICATIONS=${N}, ROLLING_INCIDENTS=${INCIDENTS}, ROLLING_SEND_DELAY_SECONDS=${SEND_DELAY_S}, ROLLING_ACK_TIMEOUT_SECONDS=${ACK_TIMEOUT_S}).\n` +
        `Two Temporal 1.32.2 nodes on PostgreSQL 15, two workers per build, two APIs, on one 2-core machine shared with other work.\n\n` +
        `Result: **${ok ? 'OK' : 'FAILED'}**: ${sent}/${N} sent, ${once} delivered exactly once, ${duplicates} duplicates, ${lost} lost; ` +
        `${both}/${N} runs completed workflow tasks on both builds; ${INCIDENTS} incidents escalated on B and acknowledged, ${pagesAfterAck} pages after acknowledgement.\n\n` +
        '```\n' + lines.join('\n') + '\n```\n',
    );
    say(`wrote ${file}`);
    if (!ok) process.exitCode = 1;
  } finally {
    await cluster?.stop();
    await receiver.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();

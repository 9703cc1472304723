// `npm run bench`: drives the whole stack over HTTP and compares it with a bare
// one-activity Temporal workflow on the same dev server.
//
//   npm run bench                      # 500 notifications, 16 concurrent requests
//   BENCH_N=2000 BENCH_CONCURRENCY=32 npm run bench
//
// It boots the stack as `npm start` does (embedded dev server, PGlite, or DATABASE_URL),
// on free ports in a temporary DATA_DIR, and writes its results to bench/results/.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { sql, type SQL } from 'drizzle-orm';
import { NativeConnection, Worker } from '@temporalio/worker';
import { loadConfig } from '../config.js';
import { ensureCli } from '../scripts/setup-temporal.mjs';
import { freePort } from '../worker/dev-server.js';
import { quietSdkLogs, startTocsin } from '../worker/runtime.js';

const N = Number(process.env.BENCH_N ?? 500);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);

function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function pool<T>(count: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

quietSdkLogs();
const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-bench-'));
const config = loadConfig({
  ...process.env,
  DATA_DIR: dataDir,
  PORT: '0',
  TEMPORAL_DEV_PORT: String(await freePort()),
  TEMPORAL_UI_PORT: String(await freePort()),
  ADMIN_TOKEN: 'bench',
});
const running = await startTocsin(config, { api: true, worker: true, embeddedTemporal: true, temporalCliPath: ensureCli(), log: () => {} });
try {
  const api = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(`${running.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  // PGlite answers { rows }, postgres.js an array of rows.
  const rows = async <T>(query: SQL): Promise<T[]> => {
    const res = (await running.database.db.execute(query)) as unknown as { rows?: T[] } & T[];
    return res.rows ?? res;
  };
  const tenant = await api('POST', '/v1/admin/tenants', 'bench', { name: 'bench' });
  const key = tenant.body.apiKey as string;
  await api('PUT', '/v1/recipients/r1', key, {});
  await api('POST', '/v1/templates', key, { key: 'bench', content: { en: { inapp: { title: 'Hello {{ n }}', body: 'Benchmark' } } } });

  // Tocsin: accept latency per request, then accepted → sent.
  const rssBefore = process.memoryUsage().rss;
  const started = performance.now();
  const accepted = await pool(N, CONCURRENCY, async (n) => {
    const t0 = performance.now();
    const res = await api('POST', '/v1/notifications', key, { recipient: 'r1', template: 'bench', data: { n } });
    if (res.status !== 202) throw new Error(`accept failed: ${res.status} ${JSON.stringify(res.body)}`);
    return { id: res.body.id as string, ms: performance.now() - t0 };
  });
  const acceptDone = performance.now();
  for (;;) {
    const pending = await rows<{ c: number }>(sql`select count(*)::int as c from notifications where status <> 'sent'`);
    if (Number(pending[0].c) === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const allSent = performance.now();
  const e2e = (await rows<{ ms: string }>(sql`select extract(epoch from (updated_at - created_at)) * 1000 as ms from notifications`)).map((r) => Number(r.ms));
  const rssAfter = process.memoryUsage().rss;

  // Baseline: a bare one-activity workflow on the same server, started as fast as possible.
  const nconn = await NativeConnection.connect({ address: running.temporalAddress });
  const worker = await Worker.create({
    connection: nconn,
    taskQueue: 'bench-bare',
    workflowsPath: fileURLToPath(new URL('./bare-workflow.ts', import.meta.url)),
    activities: { noop: async () => {} },
  });
  const bareRun = worker.run();
  const conn = await Connection.connect({ address: running.temporalAddress });
  const client = new Client({ connection: conn });
  const bareStart = performance.now();
  const bareAccept = await pool(N, CONCURRENCY, async (i) => {
    const t0 = performance.now();
    const h = await client.workflow.start('bareWorkflow', { taskQueue: 'bench-bare', workflowId: `bare-${i}-${Date.now()}` });
    return { h, ms: performance.now() - t0 };
  });
  await Promise.all(bareAccept.map((b) => b.h.result()));
  const bareDone = performance.now();
  worker.shutdown();
  await bareRun;
  await conn.close();
  await nconn.close();

  const acceptMs = accepted.map((a) => a.ms);
  const bareMs = bareAccept.map((b) => b.ms);
  const tocsinThroughput = N / ((allSent - started) / 1000);
  const bareThroughput = N / ((bareDone - bareStart) / 1000);
  const command = `BENCH_N=${N} BENCH_CONCURRENCY=${CONCURRENCY} npm run bench`;
  const report = `# Benchmark ${new Date().toISOString()}

Command: \`${command}\` (database: ${running.database.kind}; ${N} in-app notifications, ${CONCURRENCY} concurrent requests; the machine: ${(await import('node:os')).cpus().length} cores)

| | Tocsin notification | bare one-activity workflow | ratio |
| --- | --- | --- | --- |
| accept latency p50 | ${pct(acceptMs, 50).toFixed(1)} ms | ${pct(bareMs, 50).toFixed(1)} ms (start) | ${(pct(acceptMs, 50) / pct(bareMs, 50)).toFixed(2)} |
| accept latency p99 | ${pct(acceptMs, 99).toFixed(1)} ms | ${pct(bareMs, 99).toFixed(1)} ms (start) | ${(pct(acceptMs, 99) / pct(bareMs, 99)).toFixed(2)} |
| end-to-end throughput | ${tocsinThroughput.toFixed(1)} /s | ${bareThroughput.toFixed(1)} /s | ${(bareThroughput / tocsinThroughput).toFixed(2)}× slower |
| accepted → sent p50 | ${pct(e2e, 50).toFixed(0)} ms | | |
| accepted → sent p99 | ${pct(e2e, 99).toFixed(0)} ms | | |
| all accepted after | ${((acceptDone - started) / 1000).toFixed(1)} s | | |
| RSS (API + worker + PGlite) | ${(rssBefore / 2 ** 20).toFixed(0)} → ${(rssAfter / 2 ** 20).toFixed(0)} MiB | | |
`;
  console.log(report);
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `notifications-${new Date().toISOString().slice(0, 10)}.md`), report);
} finally {
  await running.stop();
  rmSync(dataDir, { recursive: true, force: true });
}

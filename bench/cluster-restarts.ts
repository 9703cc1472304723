// `npm run bench:cluster-restarts`: how long `npm run cluster` takes to be ready again on existing
// data (README: "What it costs"). One cluster on a temporary DATA_DIR, started, then stopped and
// started again CLUSTER_RESTARTS (20) times at once, as a user's Ctrl+C and `npm run cluster` would;
// each start's time to ready, and when its workers polled and its APIs answered.
// `TEMPORAL_DEPLOYMENT_NAME=` runs the workers unversioned, as `npm run cluster` does then. Writes
// bench/results/cluster-restarts-<date>.md.
import { rmSync } from 'node:fs';
import { startCluster, tempDataDir } from '../scripts/cluster-stack.js';
import { atCommit, writeResults } from './measure.js';

const RESTARTS = Number(process.env.CLUSTER_RESTARTS ?? 20);
const log = (m: string) => process.stderr.write(`[restarts] ${m}\n`);

const started = new Date();
const dataDir = tempDataDir('tocsin-cluster-restarts-');
const rows: Array<{ start: string; seconds: number; workers: string; apis: string }> = [];
try {
  for (let i = 0; i <= RESTARTS; i++) {
    const steps: string[] = [];
    const t0 = Date.now();
    const cluster = await startCluster({ dataDir, env: { LOG_LEVEL: 'warn' }, log: (m) => steps.push(m) });
    const seconds = (Date.now() - t0) / 1000;
    const at = (re: RegExp) => /\(([\d.]+) s\)$/.exec(steps.find((s) => re.test(s)) ?? '')?.[1] ?? '?';
    rows.push({ start: i === 0 ? 'first (empty DATA_DIR)' : `restart ${i}`, seconds, workers: at(/workers polling/), apis: at(/APIs ready/) });
    log(`${rows.at(-1)!.start}: ready in ${seconds.toFixed(1)} s`);
    await cluster.stop();
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}

const restarts = rows.slice(1).map((r) => r.seconds);
const file = writeResults(
  'cluster-restarts',
  started.toISOString(),
  `# Restarts of the production shape on existing data (${started.toISOString().slice(0, 10)})

Command: \`${process.env.TEMPORAL_DEPLOYMENT_NAME === '' ? 'TEMPORAL_DEPLOYMENT_NAME= ' : ''}${process.env.CLUSTER_RESTARTS ? `CLUSTER_RESTARTS=${RESTARTS} ` : ''}npm run bench:cluster-restarts\`${atCommit()}. One cluster (PostgreSQL, two
Temporal nodes, the Web UI, two workers, two APIs) on a temporary DATA_DIR, stopped and started
again at once; seconds from the start to ready, and when its workers polled and its APIs answered.

Restarts: ${restarts.length}, ready in ${Math.min(...restarts).toFixed(1)}–${Math.max(...restarts).toFixed(1)} s; over 30 s: ${restarts.filter((s) => s > 30).length}.

| start | ready (s) | workers polling (s) | APIs ready (s) |
|---|---|---|---|
${rows.map((r) => `| ${r.start} | ${r.seconds.toFixed(1)} | ${r.workers} | ${r.apis} |`).join('\n')}
`,
);
log(`results in ${file}`);

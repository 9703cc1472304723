// `npm run cluster`: the production shape on this machine (scripts/cluster-stack.ts):
// PostgreSQL, two Temporal server nodes (one cluster), the Web UI, two workers and two APIs.
// Settings: DATA_DIR (default ./.data; everything is kept there across restarts), DATABASE_URL
// (an existing PostgreSQL instead of the private one), TEMPORAL_DEV_PORT (the frontend address:
// a loopback balancer in front of both nodes, 7233), TEMPORAL_UI_PORT (8233), PORT (API 1; API 2 on PORT + 1; 3000), TOCSIN_NODE (image: the workers
// and APIs on the Dockerfile's Node; machine: on this one). Ctrl+C stops all.
import { loadConfig } from '../config.js';
import { startCluster, type Cluster } from './cluster-stack.js';

const config = loadConfig();
const started = Date.now();
let cluster: Cluster | undefined;
let stopping = false;
// Ctrl+C while starting aborts the start (what started is stopped); once running, stops all in order.
const aborter = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    if (!cluster) {
      process.stderr.write(`[cluster] ${signal}: aborting the start…\n`);
      aborter.abort();
      return;
    }
    process.stderr.write(`[cluster] ${signal}: stopping APIs, workers, UI, Temporal nodes, PostgreSQL…\n`);
    const t = Date.now();
    await cluster.stop();
    process.stderr.write(`[cluster] stopped in ${((Date.now() - t) / 1000).toFixed(1)} s\n`);
    process.exit(0);
  });
}
try {
  cluster = await startCluster({
    signal: aborter.signal,
  dataDir: config.DATA_DIR,
  databaseUrl: config.DATABASE_URL,
  frontendPort: config.TEMPORAL_DEV_PORT,
  uiPort: config.TEMPORAL_UI_PORT,
  apiPorts: config.PORT ? [config.PORT, config.PORT + 1] : [],
  namespace: config.TEMPORAL_NAMESPACE,
  env: process.env.LOG_LEVEL ? { LOG_LEVEL: process.env.LOG_LEVEL } : {},
  pprof: process.env.TEMPORAL_PPROF === '1',
  });
} catch (err) {
  process.stderr.write(`[cluster] ${aborter.signal.aborted ? 'stopped' : (err as Error).message}\n`);
  process.exit(aborter.signal.aborted ? 0 : 1);
}

process.stdout.write(`
Tocsin cluster is ready (${((Date.now() - started) / 1000).toFixed(1)} s)
  APIs         ${cluster.apiUrls.join('   ')}   (GET /readyz)
  Dashboard    ${cluster.apiUrls[0]}/dashboard?token=<admin token>
  Temporal UI  ${cluster.uiUrl}   (payloads: open ${cluster.apiUrls[0]}/codec/session?token=<admin token>)
  Temporal     ${cluster.address} (balancer; nodes ${cluster.frontends.join(', ')}: one cluster), namespace ${cluster.namespace}
${cluster.pprofAddresses.length ? `  Server pprof ${cluster.pprofAddresses.map((a) => `http://${a}/debug/pprof/`).join('   ')}\n` : ''}  Database     ${cluster.databaseUrl.replace(/\/\/[^@]*@/, '//…@')} (Temporal: temporal, temporal_visibility)
  Admin token  ${config.ADMIN_TOKEN ? '(ADMIN_TOKEN from the environment)' : cluster.adminTokenFile}
  Logs         ${cluster.dataDir}/cluster/logs/
Press Ctrl+C to stop.
`);

// A child that dies on its own is reported (the others carry on; restart the cluster to bring it back).
for (const p of cluster.procs.values()) {
  void p.exited.then((r) => {
    if (!stopping && cluster.procs.get(p.name) === p) process.stderr.write(`[cluster] ${p.name} exited (${r}); see ${p.logFile}\n`);
  });
}

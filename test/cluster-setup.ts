// Global setup of `npm run test:cluster`: builds the cluster's binaries (once, into
// ~/.cache/tocsin) in vitest's main process, before any test worker starts, so a cold run's
// minutes of `go install` never block a test worker.
import { ensureCluster } from '../scripts/setup-cluster.mjs';

export default function setup() {
  const started = Date.now();
  ensureCluster();
  process.stderr.write(`[cluster smoke] binaries ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

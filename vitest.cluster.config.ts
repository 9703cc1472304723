// `npm run test:cluster`: the production shape's smoke (test/cluster.smoke.ts) on its own stack
// (scripts/cluster-stack.ts). No global setup: the cluster provisions its own binaries, and a
// cold run builds the Temporal server first (8-11 minutes on 2 cores).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/cluster.smoke.ts', 'test/cluster-partitions.smoke.ts'],
    globalSetup: ['./test/cluster-setup.ts'],
    testTimeout: 600_000,
    hookTimeout: 1_800_000,
    pool: 'forks',
    maxWorkers: 1,
    minWorkers: 1,
  },
});

// `npm run record-histories`: the scenario runs that write test/replay/ (see test/replay/record.ts),
// with the suites' global setup (servers, workflow bundle) and nothing else.
import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

export default defineConfig({
  ...base,
  test: { ...base.test, include: ['test/replay/record.ts'], maxWorkers: 1, minWorkers: 1 },
});

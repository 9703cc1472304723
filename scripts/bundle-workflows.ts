// `npm run bundle:workflows -- FILE`: writes the workflow bundle a worker loads with
// WORKFLOW_BUNDLE=FILE instead of bundling at start (worker/bundle.ts). Build it again whenever
// the workflow code changes (`npm run cluster` does at every start); with
// OTEL_EXPORTER_OTLP_ENDPOINT set it holds tracing's workflow interceptors.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadConfig } from '../config.js';
import { bundleWorkflows } from '../worker/bundle.js';

const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: npm run bundle:workflows -- FILE\n');
  process.exit(2);
}
const config = loadConfig();
const file = resolve(out);
mkdirSync(dirname(file), { recursive: true });
// Written aside and renamed: a worker starting meanwhile reads the old bundle or the new, never half of one.
writeFileSync(`${file}.tmp`, await bundleWorkflows({ tracing: Boolean(config.OTEL_EXPORTER_OTLP_ENDPOINT) }));
renameSync(`${file}.tmp`, file);

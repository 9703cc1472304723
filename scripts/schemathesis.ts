// `npm run fuzz:schemathesis`: schemathesis (from PyPI, in a venv cached outside the repo)
// generates requests from `/openapi.json` against the whole stack booted as `npm start` boots
// it (embedded dev server, PGlite, free ports, a temporary DATA_DIR), and fails on any server
// error or any answer the document does not describe. CI runs it after `npm test`.
//
// Its full report (the console output, JSON and JUnit) goes to a folder under `.tmp/` (ignored);
// what it prints is one summary line of its own, plus each finding when it has any, and never a
// line in a test runner's closing form (CI reads those for the suite's counts).
//
// Each run draws a new seed (printed, and stored in the report) so that runs over time explore
// different inputs; `SCHEMATHESIS_SEED=<n>` replays one. Random generation alone finds an
// unbounded number only now and then, so every numeric field the document leaves unbounded on a
// side also gets that side's extreme (±(2^53 - 1)) as a schema example, which schemathesis'
// examples phase sends on every run: a field no column can hold must be refused with a 4xx.
//
//   npm run fuzz:schemathesis                 # 25 examples per operation, a new seed
//   SCHEMATHESIS_MAX_EXAMPLES=200 SCHEMATHESIS_SEED=123 npm run fuzz:schemathesis
import { spawn, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { ok } from '../client/index.js';
import { startLocalStack } from './local-stack.js';
import { cacheDir } from './setup-temporal.mjs';

const SCHEMATHESIS_VERSION = '4.32.5';
const log = (msg: string) => process.stderr.write(`[schemathesis] ${msg}\n`);

/** The `st` command of a venv with schemathesis, made once in the cache. */
function ensureSchemathesis(): string {
  const venv = join(cacheDir(), `schemathesis-${SCHEMATHESIS_VERSION}`);
  const st = join(venv, 'bin', 'st');
  if (existsSync(st)) return st;
  log(`installing schemathesis ${SCHEMATHESIS_VERSION} into ${venv}`);
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
  };
  run('python3', ['-m', 'venv', venv]);
  run(join(venv, 'bin', 'pip'), ['install', '--quiet', `schemathesis==${SCHEMATHESIS_VERSION}`]);
  return st;
}

const st = ensureSchemathesis();
const seed = process.env.SCHEMATHESIS_SEED ?? String(randomInt(2 ** 31));
const reportDir = resolve(process.env.SCHEMATHESIS_REPORT_DIR ?? join('.tmp', 'schemathesis', new Date().toISOString().replace(/[:.]/g, '-')));
mkdirSync(reportDir, { recursive: true });
const outputFile = join(reportDir, 'output.txt');
const jsonFile = join(reportDir, 'report.json');
// Its own database always: generated requests should not land in a configured one.
const stack = await startLocalStack('schemathesis', { DATABASE_URL: '' });
const { running, adminToken: admin } = stack;
let code = 1;
try {
  // A tenant with a recipient and a template, so that generated requests can reach deep paths.
  const tenant = await ok(stack.client(admin).POST('/v1/admin/tenants', { body: { name: 'schemathesis' } }));
  const api = stack.client(tenant.apiKey);
  await ok(api.PUT('/v1/recipients/{recipientId}', { params: { path: { recipientId: 'user-1' } }, body: { email: 'user@example.com' } }));
  await ok(api.POST('/v1/templates', { body: { key: 'welcome', content: { en: { inapp: { title: 'Hi {{ name }}', body: 'Welcome' } } } } }));

  const schemaFile = join(reportDir, 'openapi.json');
  const apiUrl = running.apiUrl!;
  const document = (await (await fetch(`${apiUrl}/openapi.json`)).json()) as unknown;
  writeFileSync(schemaFile, JSON.stringify(withExtremeExamples(document), null, 2));
  const args = [
    'run',
    schemaFile,
    '--url',
    apiUrl,
    // No server error, and no answer outside the document: every status, content type and body
    // is one the operation publishes.
    '--checks',
    'not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance',
    '--header',
    `Authorization: Bearer ${tenant.apiKey}`,
    // 25 examples per operation from a new seed each run (the deterministic generation of before
    // never sent an out-of-range integer in a body; the extreme examples above now always do).
    '--max-examples',
    process.env.SCHEMATHESIS_MAX_EXAMPLES ?? '25',
    '--seed',
    seed,
    // One worker: with two, schemathesis runs them as threads, and this machine's Python (3.11.7)
    // then now and then fails inside its AST constructor ("recursion depth mismatch",
    // CPython gh-106905), an error of the tool's own that would fail CI.
    '--workers',
    '1',
    '--request-timeout',
    '30',
    '--report',
    'json,junit',
    '--report-json-path',
    jsonFile,
    '--report-junit-path',
    join(reportDir, 'junit.xml'),
  ];
  log(`st ${args.join(' ').replace(tenant.apiKey, '<tenant key>')}`);
  const output = createWriteStream(outputFile);
  code = await new Promise<number>((done) => {
    const child = spawn(st, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: tmpdir() }); // nothing of it lands in the repo
    child.stdout.pipe(output, { end: false });
    child.stderr.pipe(output, { end: false });
    child.on('error', (err) => {
      log(`could not run ${st}: ${err.message}`);
      done(1);
    });
    child.on('close', (c) => done(c ?? 1));
  });
  await new Promise((done) => output.end(done));
} catch (err) {
  log(`failed: ${(err as Error).message}`);
} finally {
  await stack.stop();
}
summarize();
process.exit(code);

/**
 * The document with, on every integer or number schema that has no upper (lower) bound, the
 * largest (smallest) safe integer added to its `examples`: values the schema allows and no
 * database column of ours holds. The served document is unchanged; this copy is what
 * schemathesis reads (kept in the report folder).
 */
function withExtremeExamples(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withExtremeExamples);
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = withExtremeExamples(v);
  const types = ([] as unknown[]).concat(out.type ?? []);
  if (types.includes('integer') || types.includes('number')) {
    const extremes: number[] = [];
    if (out.maximum === undefined && out.exclusiveMaximum === undefined) extremes.push(Number.MAX_SAFE_INTEGER);
    if (out.minimum === undefined && out.exclusiveMinimum === undefined) extremes.push(Number.MIN_SAFE_INTEGER);
    if (extremes.length) out.examples = [...((out.examples as unknown[]) ?? []), ...extremes];
  }
  return out;
}

/**
 * One line from the JSON report, in no test runner's closing form; each finding on its own line
 * and, when it failed, the console report's failures (or errors) with their banners taken out.
 */
function summarize() {
  const where = relative(process.cwd(), reportDir) || reportDir;
  let report: SchemathesisReport | undefined;
  try {
    report = JSON.parse(readFileSync(jsonFile, 'utf8')) as SchemathesisReport;
  } catch {
    // No JSON report: schemathesis stopped before it wrote one; its own words are in output.txt.
  }
  if (!report) {
    log(`no report from schemathesis (exit ${code}); its output: ${join(where, 'output.txt')}`);
    return;
  }
  const serverErrors = report.failures.filter((f) => f.code === 'ST101').reduce((n, f) => n + f.count, 0);
  log(
    `${report.test_cases.generated} cases over ${report.operations.tested} operations (seed ${report.seed}), ` +
      `${serverErrors} server errors, ${report.test_cases.unique_failures} unique findings, ${report.errors.length} errors; ` +
      `report: ${where}/ (output.txt, report.json, junit.xml)`,
  );
  for (const f of report.failures) log(`finding ${f.code} ${f.title} ×${f.count}: ${f.operations.join(', ')}`);
  if (code !== 0) {
    const text = readFileSync(outputFile, 'utf8');
    const from = text.search(/^=+ (FAILURES|ERRORS) =+$/m);
    const rest = from >= 0 ? text.slice(from + 1) : '';
    const to = rest.search(/^=+ (WARNINGS|SUMMARY) =+$/m); // its warnings stay in output.txt
    if (from >= 0) {
      for (const line of text.slice(from, to >= 0 ? from + 1 + to : undefined).split('\n')) {
        if (/^[=_]{3,}/.test(line)) {
          const title = line.replace(/^[=_\s]+|[=_\s]+$/g, '');
          if (title) log(`-- ${title}`);
        } else if (line.trim()) log(`   ${line}`);
      }
    }
    log(`schemathesis exited with ${code}; replay with SCHEMATHESIS_SEED=${report.seed}`);
  }
}

interface SchemathesisReport {
  seed: number;
  operations: { tested: number };
  test_cases: { generated: number; unique_failures: number };
  failures: Array<{ code: string; title: string; count: number; operations: string[] }>;
  errors: unknown[];
}

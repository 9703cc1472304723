// `npm run fuzz:schemathesis`: schemathesis (from PyPI, in a venv cached outside the repo)
// generates requests from `/openapi.json` against the whole stack booted as `npm start` boots
// it (embedded dev server, PGlite, free ports, a temporary DATA_DIR), and fails on any server
// error or any answer the document does not describe. CI runs it after `npm test`.
//
//   npm run fuzz:schemathesis                 # 25 examples per operation
//   SCHEMATHESIS_MAX_EXAMPLES=200 npm run fuzz:schemathesis
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

  const args = [
    'run',
    `${running.apiUrl}/openapi.json`,
    // No server error, and no answer outside the document: every status, content type and body
    // is one the operation publishes.
    '--checks',
    'not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance',
    '--header',
    `Authorization: Bearer ${tenant.apiKey}`,
    '--max-examples',
    process.env.SCHEMATHESIS_MAX_EXAMPLES ?? '25',
    // One worker: with two, schemathesis runs them as threads, and this machine's Python (3.11.7)
    // then now and then fails inside its AST constructor ("recursion depth mismatch",
    // CPython gh-106905), an error of the tool's own that would fail CI.
    '--workers',
    '1',
    '--request-timeout',
    '30',
    '--generation-deterministic',
  ];
  log(`st ${args.join(' ').replace(tenant.apiKey, '<tenant key>')}`);
  code = await new Promise<number>((resolve) => {
    const child = spawn(st, args, { stdio: 'inherit', cwd: tmpdir() }); // its report stays out of the repo
    child.on('exit', (c) => resolve(c ?? 1));
  });
} catch (err) {
  log(`failed: ${(err as Error).message}`);
} finally {
  await stack.stop();
}
log(code === 0 ? 'no server errors' : `schemathesis exited with ${code}`);
process.exit(code);

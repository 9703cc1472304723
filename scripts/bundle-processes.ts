// The API and worker processes as plain JavaScript, for `npm run cluster` (and the benches and
// tests that start it): each entry (runtime/api.ts, runtime/worker.ts) with Tocsin's own modules
// compiled by esbuild into an ES module and the chunks it shares, its packages left to node_modules. A process started
// from it needs no TypeScript loader: tsx's loader thread and its compiled sources are about
// 40 MB of every process's resident set (README: "Throughput and memory on the cluster").
//
// Each module keeps its own import.meta.url (the file it was compiled from), so the paths
// Tocsin reads beside its code (migrations, the dashboard's pages, the failure converter) are
// the same as under tsx. Builds lie under node_modules/.cache, where node resolves the packages
// they import, each in a directory named by its content's hash: never rewritten, so clusters
// started side by side from different code each run their own; those unused for a week go.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const BUILDS = join(root, 'node_modules', '.cache', 'tocsin', 'processes');
const WEEK_MS = 7 * 24 * 3600_000;

/** Replaces each of Tocsin's modules' `import.meta.url` with the URL of its source file. */
const ownImportMetaUrl: Plugin = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      if (relative(root, args.path).startsWith('node_modules')) return undefined;
      const source = readFileSync(args.path, 'utf8');
      return { contents: source.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)), loader: 'ts' };
    });
  },
};

/**
 * Builds the API and worker entries (about a second); answers the paths of `api.mjs` and
 * `worker.mjs`, and of `temporal-proto.mjs`, which each of them needs before it (`node --import
 * <it> <entry>`): in a bundle the packages' imports come first, so the entry's own first import
 * (runtime/temporal-proto.ts) would run after the SDK has loaded its definitions.
 */
export async function bundleProcesses(): Promise<{ api: string; worker: string; preload: string }> {
  const out = await build({
    entryPoints: { api: join(root, 'runtime/api.ts'), worker: join(root, 'runtime/worker.ts'), 'temporal-proto': join(root, 'runtime/temporal-proto.ts') },
    outdir: join(BUILDS, 'build'),
    outExtension: { '.js': '.mjs' },
    write: false,
    bundle: true,
    // Split, so that what runtime/index.ts imports lazily (the worker runtime and provider SDKs in an
    // API, the routes in a worker) stays lazy: one file would hoist those packages' imports to its top.
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'error',
    plugins: [ownImportMetaUrl],
  });
  const hash = createHash('sha256');
  for (const f of out.outputFiles) hash.update(f.path).update(f.contents);
  const dir = join(BUILDS, hash.digest('hex').slice(0, 16));
  if (!existsSync(dir)) {
    const staging = `${dir}.${process.pid}.tmp`;
    mkdirSync(staging, { recursive: true });
    for (const f of out.outputFiles) writeFileSync(join(staging, basename(f.path)), f.contents);
    try {
      renameSync(staging, dir);
    } catch {
      // Built alike by another start meanwhile: theirs is the same.
      rmSync(staging, { recursive: true, force: true });
    }
  }
  const now = new Date();
  utimesSync(dir, now, now);
  for (const name of readdirSync(BUILDS)) {
    const other = join(BUILDS, name);
    // Another start may be removing or renaming the same entry meanwhile: gone is fine.
    const at = statSync(other, { throwIfNoEntry: false })?.mtimeMs;
    if (other !== dir && at !== undefined && Date.now() - at > WEEK_MS) rmSync(other, { recursive: true, force: true });
  }
  return { api: join(dir, 'api.mjs'), worker: join(dir, 'worker.mjs'), preload: join(dir, 'temporal-proto.mjs') };
}

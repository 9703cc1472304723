// The Node versions Tocsin runs on: `engines` in package.json, which every locked package accepts
// whole (so `npm ci` prints no EBADENGINE on any of them, Node 20.19 included), and the
// Dockerfile's base image, an LTS line that `engines` allows.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const read = (file: string) => readFileSync(join(root, file), 'utf8');
const pkg = JSON.parse(read('package.json')) as { engines: { node: string } };
const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { version?: string; dev?: boolean; engines?: unknown }> };

describe('Node versions', () => {
  it('engines allows Node 20.19+ and the LTS lines after it, and the lock file agrees', () => {
    const range = pkg.engines.node;
    expect(lock.packages[''].engines).toEqual({ node: range });
    for (const version of ['20.19.0', '20.20.2', '22.12.0', '24.0.0', '24.20.0']) expect(semver.satisfies(version, range), version).toBe(true);
    for (const version of ['18.20.0', '20.18.3', '22.11.0']) expect(semver.satisfies(version, range), version).toBe(false);
  });

  it('no locked package, production or development, wants a Node that engines does not promise', () => {
    const range = pkg.engines.node;
    const narrower = Object.entries(lock.packages)
      .filter(([path]) => path !== '')
      .flatMap(([path, entry]) => {
        // A few old packages state engines as an array; npm only reads the object form.
        const wants = entry.engines && !Array.isArray(entry.engines) ? (entry.engines as { node?: string }).node : undefined;
        return wants && !semver.subset(range, wants) ? [`${path}@${entry.version} wants node ${wants}${entry.dev ? ' (dev)' : ''}`] : [];
      });
    expect(narrower).toEqual([]);
  });

  it('the Dockerfile runs an LTS line that engines allows', () => {
    const from = read('Dockerfile').match(/^FROM\s+node:(\d+)\.(\d+)\S*/m)!;
    const [major, minor] = [Number(from[1]), Number(from[2])];
    expect(major % 2, 'even majors are the LTS lines').toBe(0);
    expect(major).toBeGreaterThanOrEqual(24);
    expect(semver.satisfies(`${major}.${minor}.0`, pkg.engines.node)).toBe(true);
  });
});

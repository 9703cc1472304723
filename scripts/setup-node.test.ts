// `npm run setup:node` provides the Node release of Tocsin's image (the Dockerfile's FROM line),
// for running the cluster and its bench on the production runtime.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tocsinNode } from './cluster-stack.js';
import { dockerfileNodeLine, IMAGE_NODE_VERSION } from './setup-node.mjs';

const root = join(import.meta.dirname, '..');

describe('setup:node', () => {
  it("pins the release of the Dockerfile's Node image line", () => {
    expect(dockerfileNodeLine(readFileSync(join(root, 'Dockerfile'), 'utf8'))).toBe(IMAGE_NODE_VERSION.split('.').slice(0, 2).join('.'));
  });

  it("reads major.minor from a node image's FROM line and nothing from another image", () => {
    expect(dockerfileNodeLine('# build\nFROM node:24.20-trixie-slim AS base\n')).toBe('24.20');
    expect(dockerfileNodeLine('FROM node:22.3.1\n')).toBe('22.3');
    expect(dockerfileNodeLine('FROM debian:trixie-slim\n')).toBeNull();
  });

  it('fetches that release once and prints the directory that holds it', { timeout: 300_000 }, () => {
    const bin = execFileSync(process.execPath, [join(root, 'scripts/setup-node.mjs')], { encoding: 'utf8' }).trim();
    expect(execFileSync(join(bin, 'node'), ['--version'], { encoding: 'utf8' }).trim()).toBe(`v${IMAGE_NODE_VERSION}`);
    // Cached: the second call finds it without fetching (it logs only when it fetches).
    const again = spawnSync(process.execPath, [join(root, 'scripts/setup-node.mjs')], { encoding: 'utf8' });
    expect({ status: again.status, stdout: again.stdout.trim(), stderr: again.stderr }).toEqual({ status: 0, stdout: bin, stderr: '' });
  });

  it("runs the cluster's workers and APIs on that release unless TOCSIN_NODE=machine", { timeout: 300_000 }, () => {
    const image = tocsinNode({ ...process.env, TOCSIN_NODE: '' });
    expect(execFileSync(image, ['--version'], { encoding: 'utf8' }).trim()).toBe(`v${IMAGE_NODE_VERSION}`);
    expect(tocsinNode({ ...process.env, TOCSIN_NODE: 'image' })).toBe(image);
    expect(tocsinNode({ ...process.env, TOCSIN_NODE: 'machine' })).toBe(process.execPath);
    expect(() => tocsinNode({ ...process.env, TOCSIN_NODE: '20' })).toThrow('TOCSIN_NODE is image (the default) or machine, not 20');
  });
});

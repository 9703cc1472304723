// Replays every committed history (test/replay/<workflowType>/*.json, written by
// `npm run record-histories`) against the current workflow bundle: a change to a workflow's
// commands that is not behind patched() fails here with a nondeterminism error, before it can
// break the runs that are waiting in production. The histories were recorded before the payload
// codec (their payloads are in clear) and replay with it, as production's workers do: runs started
// before the codec finish after the upgrade (test/codec-upgrade.test.ts runs one across it).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';
import * as workflows from '../workflows/index.js';
import { historyFromJson } from './replay/history-json.js';
import { quietTemporalLogs, testDataConverter } from './support.js';

const replayDir = fileURLToPath(new URL('./replay/', import.meta.url));
const workflowTypes = Object.entries(workflows)
  .filter(([, fn]) => typeof fn === 'function')
  .map(([name]) => name);

/** The committed histories, by workflow type (its folder name). */
function histories(): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const dir of readdirSync(replayDir, { withFileTypes: true })) {
    if (!dir.isDirectory()) continue;
    out[dir.name] = readdirSync(join(replayDir, dir.name))
      .filter((f) => f.endsWith('.json'))
      .sort();
  }
  return out;
}

describe('replay of recorded histories', () => {
  const recorded = histories();

  it('has a history for every workflow type that workflows/index.ts exports, and none for another', () => {
    expect(workflowTypes.length).toBeGreaterThan(0);
    const missing = workflowTypes.filter((t) => !recorded[t]?.length);
    expect(missing, `no history under test/replay/ for ${missing.join(', ')}: add a scenario to test/replay/scenarios.ts and run npm run record-histories`).toEqual([]);
    const unknown = Object.keys(recorded).filter((t) => !workflowTypes.includes(t));
    expect(unknown, `histories of workflow types that no longer exist: ${unknown.join(', ')}`).toEqual([]);
  });

  it('replays every history on the current workflow code without nondeterminism', { timeout: 120_000 }, async () => {
    quietTemporalLogs();
    const files = Object.entries(recorded).flatMap(([type, names]) => names.map((name) => `${type}/${name}`));
    const results = Worker.runReplayHistories(
      { workflowBundle: { codePath: inject('workflowBundlePath') }, replayName: 'tocsin-replay', dataConverter: testDataConverter },
      files.map((file) => ({
        workflowId: file,
        history: historyFromJson(JSON.parse(readFileSync(join(replayDir, file), 'utf8'))),
      })),
    );
    const failures: string[] = [];
    let replayed = 0;
    for await (const r of results) {
      replayed++;
      if (r.error) failures.push(`${r.workflowId}: ${r.error.name}: ${r.error.message}`);
    }
    expect(failures, 'a workflow change needs patched() (README: Changing workflow code)').toEqual([]);
    expect(replayed).toBe(files.length);
  });
});

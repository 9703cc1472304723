// `npm run record-histories`: runs every scenario in ./scenarios.ts and writes each run's
// history to test/replay/<workflowType>/<scenario>.json (<scenario>.run-<n>.json for a chain of
// runs continued as new), in the JSON that `temporal workflow show --output json` and the Web
// UI's download produce and Worker.runReplayHistories reads. Histories no scenario wrote any
// more are removed once every scenario has passed, except those kept on purpose: a name with
// an `@` (e.g. `sent@before-quiet-digest.json`, the old branch of a patch) is never touched. Run by vitest (vitest.record.config.ts) so
// it shares the suites' global setup: the provisioned servers and the workflow bundle.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { afterAll, describe, it } from 'vitest';
import { historyToJson } from './history-json.js';
import { scenarioGroups, type Save } from './scenarios.js';

export const replayDir = dirname(fileURLToPath(import.meta.url));

/** Every run of a workflow id, oldest first, following continue-as-new back from the latest. */
async function runsOf(client: Client, workflowId: string): Promise<temporal.api.history.v1.IHistory[]> {
  const latest = client.workflow.getHandle(workflowId);
  const { status } = await latest.describe();
  if (status.name === 'RUNNING') throw new Error(`${workflowId} is still running: record closed runs only`);
  const runs = [await latest.fetchHistory()];
  for (;;) {
    const previous = runs[0].events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
    if (!previous) return runs;
    runs.unshift(await client.workflow.getHandle(workflowId, previous).fetchHistory());
  }
}

const written = new Set<string>();
/** Groups that passed: stale files are removed only after a full, successful run. */
let passed = 0;

const save: Save = async (client, workflowType, scenario, workflowId) => {
  const runs = await runsOf(client, workflowId);
  const dir = join(replayDir, workflowType);
  mkdirSync(dir, { recursive: true });
  runs.forEach((history, i) => {
    const file = join(dir, runs.length === 1 ? `${scenario}.json` : `${scenario}.run-${i + 1}.json`);
    writeFileSync(file, `${JSON.stringify(historyToJson(history), null, 1)}\n`);
    written.add(file);
    console.log(`recorded ${relative(process.cwd(), file)} (${history.events?.length ?? 0} events)`);
  });
};

describe('record histories', () => {
  for (const group of scenarioGroups) {
    it(group.name, { timeout: 300_000 }, async () => {
      await group.run(save);
      passed++;
    });
  }

  afterAll(() => {
    if (passed < scenarioGroups.length) return;
    for (const type of readdirSync(replayDir, { withFileTypes: true })) {
      if (!type.isDirectory()) continue;
      for (const name of readdirSync(join(replayDir, type.name))) {
        const file = join(replayDir, type.name, name);
        if (name.endsWith('.json') && !name.includes('@') && !written.has(file)) {
          rmSync(file);
          console.log(`removed ${relative(process.cwd(), file)} (no scenario records it any more)`);
        }
      }
    }
  });
});

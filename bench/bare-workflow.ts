// The baseline for `npm run bench`: a bare one-activity workflow on the same server, whose
// one activity does the same webhook POST to the same receiver as a Tocsin notification.
import { proxyActivities } from '@temporalio/workflow';
import type { createBareActivities } from './bare-activities.js';

const { post } = proxyActivities<ReturnType<typeof createBareActivities>>({ startToCloseTimeout: '10 seconds' });

export async function bareWorkflow(input: { id: string; url: string; data: Record<string, unknown> }): Promise<void> {
  await post(input);
}

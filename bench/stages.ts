// Where a notification's time went, read from its workflow history: how long its tasks waited
// for a worker (workflow tasks and the delivery activity) and how long they ran. For the mixed
// benchmark, to show which queue a starved tenant waited in.
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { pct } from './load.js';

const E = proto.temporal.api.enums.v1.EventType;
type Event = proto.temporal.api.history.v1.IHistoryEvent;

const ms = (e: Event | undefined) => (e?.eventTime ? Number(e.eventTime.seconds ?? 0) * 1000 + Math.floor((e.eventTime.nanos ?? 0) / 1e6) : NaN);

/** Per stage, summed over one run: waits are scheduled → started; runs are started → completed. */
export function stagesOf(events: Event[]): Record<string, number> {
  const out: Record<string, number> = { 'first workflow task wait': 0, 'later workflow task waits': 0, 'workflow task run': 0, 'activity wait': 0, 'activity run': 0 };
  let firstTask = true;
  const byId = new Map<number, Event>();
  for (const e of events) {
    byId.set(Number(e.eventId), e);
    if (e.eventType === E.EVENT_TYPE_WORKFLOW_TASK_STARTED) {
      out[firstTask ? 'first workflow task wait' : 'later workflow task waits'] += ms(e) - ms(byId.get(Number(e.workflowTaskStartedEventAttributes!.scheduledEventId)));
      firstTask = false;
    }
    if (e.eventType === E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) out['workflow task run'] += ms(e) - ms(byId.get(Number(e.workflowTaskCompletedEventAttributes!.startedEventId)));
    if (e.eventType === E.EVENT_TYPE_ACTIVITY_TASK_STARTED) out['activity wait'] += ms(e) - ms(byId.get(Number(e.activityTaskStartedEventAttributes!.scheduledEventId)));
    if (e.eventType === E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) out['activity run'] += ms(e) - ms(byId.get(Number(e.activityTaskCompletedEventAttributes!.startedEventId)));
  }
  const first = events[0];
  const last = events[events.length - 1];
  out['start → close'] = ms(last) - ms(first);
  return out;
}

/** p50/p95 of each stage over the runs with these workflow ids, as markdown table rows. */
export async function stageRows(address: string, namespace: string, workflowIds: string[], label: string): Promise<string[]> {
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection, namespace });
    const all = await Promise.all(workflowIds.map(async (id) => stagesOf((await client.workflow.getHandle(id).fetchHistory()).events ?? [])));
    return Object.keys(all[0] ?? {}).map((stage) => {
      const v = all.map((s) => s[stage]);
      return `| ${label} | ${stage} | ${pct(v, 50).toFixed(0)} ms | ${pct(v, 95).toFixed(0)} ms |`;
    });
  } finally {
    await connection.close();
  }
}

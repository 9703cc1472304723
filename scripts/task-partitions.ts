// Tasks waiting in a task queue's child partitions, read from Temporal's own tables: what
// `npm run cluster` checks before it gives every task queue one partition (scripts/cluster-stack.ts).
// Temporal reads only the partitions its dynamic config names, so a task left in another would
// wait forever.
import protobuf from 'protobufjs';
import type postgres from 'postgres';

/**
 * The fields read of a task queue's metadata, TaskQueueInfo (Temporal's
 * proto/internal/temporal/server/api/persistence/v1/tasks.proto); decoding skips the others.
 * Each subqueue has an ack level (classic backlog) or a fair one (pass, task id); before
 * subqueues, the queue's own ack level stood for subqueue 0.
 */
const TaskQueueInfo = protobuf.Root.fromJSON({
  nested: {
    FairLevel: { fields: { taskPass: { type: 'int64', id: 1 }, taskId: { type: 'int64', id: 2 } } },
    SubqueueInfo: { fields: { ackLevel: { type: 'int64', id: 2 }, fairAckLevel: { type: 'FairLevel', id: 4 } } },
    TaskQueueInfo: {
      fields: { name: { type: 'string', id: 2 }, ackLevel: { type: 'int64', id: 5 }, subqueues: { rule: 'repeated', type: 'SubqueueInfo', id: 9 } },
    },
  },
}).lookupType('TaskQueueInfo');

interface TaskQueueInfo {
  name: string;
  ackLevel: string;
  subqueues: Array<{ ackLevel: string; fairAckLevel?: { taskPass: string; taskId: string } | null }>;
}

/** A child partition's number n ≥ 1 from its physical name, `/_sys/<queue>/<n>` or `/_sys/<queue>/<version>#<n>` when versioned; 0 for any other queue. */
function childPartition(name: string): number {
  return Number(/^\/_sys\/.+[/#:](\d+)$/.exec(name)?.[1] ?? 0);
}

/**
 * How many tasks wait, not yet dispatched, in child partitions, and how many partitions per task
 * queue must be read to reach them all. A task waits when it lies above its subqueue's ack level:
 * in `tasks` (the classic backlog, metadata in `task_queues`) and `tasks_v2` (fairness',
 * `task_queues_v2`). A queue id is the namespace id (16 bytes), the physical queue's name and its
 * type byte; a task row's is its metadata row's, or for subqueue s > 0 the same with the type
 * byte's high bit set and s appended as a varint (common/persistence/sql/task_util.go).
 * Dispatched rows stay until Temporal's task GC deletes them, so rows alone would over-count.
 */
export async function childPartitionTasks(sql: postgres.Sql): Promise<{ waiting: number; partitions: number; queues: Record<string, number> }> {
  let waiting = 0;
  let partitions = 1;
  /** The waiting tasks by partition (its physical name), for the log. */
  const queues: Record<string, number> = {};
  for (const fair of [false, true]) {
    // Only the partitions' metadata: names after the namespace id that start with /_sys/.
    const metadata = await sql<Array<{ id: Buffer; data: Buffer }>>`
      select task_queue_id as id, data from ${sql(fair ? 'task_queues_v2' : 'task_queues')}
      where substring(task_queue_id from 17 for 6) = convert_to('/_sys/', 'UTF8')`;
    for (const { id, data } of metadata) {
      const info = TaskQueueInfo.toObject(TaskQueueInfo.decode(data), { longs: String, defaults: true }) as TaskQueueInfo;
      const partition = childPartition(info.name);
      if (!partition) continue;
      const levels: TaskQueueInfo['subqueues'] = info.subqueues.length ? info.subqueues : [{ ackLevel: info.ackLevel }];
      for (const [subqueue, level] of levels.entries()) {
        const queueId = subqueue === 0 ? id : Buffer.concat([id.subarray(0, -1), Buffer.from([id.at(-1)! | 0x80]), protobuf.Writer.create().uint32(subqueue).finish()]);
        const [{ n }] = fair
          ? await sql<[{ n: number }]>`select count(*)::int as n from tasks_v2 where task_queue_id = ${queueId} and (pass, task_id) > (${level.fairAckLevel?.taskPass ?? '0'}::bigint, ${level.fairAckLevel?.taskId ?? level.ackLevel}::bigint)`
          : await sql<[{ n: number }]>`select count(*)::int as n from tasks where task_queue_id = ${queueId} and task_id > ${level.ackLevel}::bigint`;
        if (!n) continue;
        waiting += n;
        queues[info.name] = (queues[info.name] ?? 0) + n;
        partitions = Math.max(partitions, partition + 1);
      }
    }
  }
  return { waiting, partitions, queues };
}

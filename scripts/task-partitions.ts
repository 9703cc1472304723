// Tasks waiting in a task queue's child partitions, read from Temporal's own tables: what
// `npm run cluster` checks before it gives every task queue one partition (scripts/cluster-stack.ts).
// Temporal reads only the partitions its dynamic config names, so a task left in another would
// wait forever.
import type postgres from 'postgres';

type ProtoValue = bigint | Buffer;

/** A protobuf message's fields by number: varints and fixed ints as bigint, length-delimited as bytes. */
function protoFields(buf: Buffer): Map<number, ProtoValue[]> {
  const fields = new Map<number, ProtoValue[]>();
  let at = 0;
  const varint = (): bigint => {
    let value = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = buf[at++];
      if (byte === undefined) throw new Error('truncated protobuf');
      value |= BigInt(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return value;
    }
  };
  while (at < buf.length) {
    const key = Number(varint());
    const wire = key & 7;
    let value: ProtoValue;
    if (wire === 0) value = varint();
    else if (wire === 1) (value = buf.readBigInt64LE(at)), (at += 8);
    else if (wire === 5) (value = BigInt(buf.readInt32LE(at))), (at += 4);
    else if (wire === 2) {
      const length = Number(varint());
      value = buf.subarray(at, at + length);
      at += length;
    } else throw new Error(`protobuf wire type ${wire}`);
    const list = fields.get(key >>> 3) ?? [];
    list.push(value);
    fields.set(key >>> 3, list);
  }
  return fields;
}

const int64 = (v: ProtoValue | undefined) => BigInt.asIntN(64, typeof v === 'bigint' ? v : 0n);

/**
 * Each subqueue's ack level from a task queue's metadata (TaskQueueInfo, temporal's
 * persistence/v1/tasks.proto): `subqueues` (9), each with `ack_level` (2) and `fair_ack_level`
 * (4: pass 1, task id 2); before subqueues, the queue's `ack_level` (5).
 */
function ackLevels(info: Map<number, ProtoValue[]>): Array<{ id: bigint; pass: bigint }> {
  const subqueues = (info.get(9) ?? []).map((b) => {
    const sub = protoFields(b as Buffer);
    const fair = sub.get(4)?.[0];
    if (!fair) return { id: int64(sub.get(2)?.[0]), pass: 0n };
    const level = protoFields(fair as Buffer);
    return { id: int64(level.get(2)?.[0]), pass: int64(level.get(1)?.[0]) };
  });
  return subqueues.length ? subqueues : [{ id: int64(info.get(5)?.[0]), pass: 0n }];
}

/** A child partition's number n ≥ 1 from its physical name, `/_sys/<queue>/<n>` or `/_sys/<queue>/<version>#<n>` when versioned; 0 for any other queue. */
export function childPartition(name: string): number {
  return Number(/^\/_sys\/.+[/#:](\d+)$/.exec(name)?.[1] ?? 0);
}

/**
 * How many tasks wait, not yet dispatched, in child partitions, and how many partitions per task
 * queue must be read to reach them all. A task waits when it lies above its subqueue's ack level:
 * in `tasks` (the classic backlog, metadata in `task_queues`) and `tasks_v2` (fairness',
 * `task_queues_v2`). A task row's queue id is the metadata row's, or for subqueue s > 0 the same
 * with the type byte's high bit set and s appended as a varint (common/persistence/sql/task_util.go).
 * Dispatched rows stay until Temporal's task GC deletes them, so rows alone would over-count.
 */
export async function childPartitionTasks(sql: postgres.Sql): Promise<{ waiting: number; partitions: number }> {
  let waiting = 0;
  let partitions = 1;
  for (const fair of [false, true]) {
    const metadata = await sql<Array<{ id: Buffer; data: Buffer }>>`select task_queue_id as id, data from ${sql(fair ? 'task_queues_v2' : 'task_queues')}`;
    for (const { id, data } of metadata) {
      const info = protoFields(data);
      const partition = childPartition((info.get(2)?.[0] as Buffer | undefined)?.toString('utf8') ?? '');
      if (!partition) continue;
      for (const [subqueue, level] of ackLevels(info).entries()) {
        const queueId = subqueue === 0 ? id : Buffer.concat([id.subarray(0, -1), Buffer.from([id.at(-1)! | 0x80]), uvarint(subqueue)]);
        const [{ n }] = fair
          ? await sql<[{ n: number }]>`select count(*)::int as n from tasks_v2 where task_queue_id = ${queueId} and (pass, task_id) > (${String(level.pass)}::bigint, ${String(level.id)}::bigint)`
          : await sql<[{ n: number }]>`select count(*)::int as n from tasks where task_queue_id = ${queueId} and task_id > ${String(level.id)}::bigint`;
        waiting += n;
        if (n) partitions = Math.max(partitions, partition + 1);
      }
    }
  }
  return { waiting, partitions };
}

function uvarint(n: number): Buffer {
  const bytes: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 0x80)) bytes.push((n & 0x7f) | 0x80);
  bytes.push(n);
  return Buffer.from(bytes);
}

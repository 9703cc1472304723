// Flows and their published versions (a version never changes once written; the flow row holds
// which is the latest), and what flow runs record: their accepted row and their step states.
import { and, eq, getTableColumns, inArray, isNotNull, notInArray, sql, type SQL } from 'drizzle-orm';
import type { FlowInput, StepState } from '../domain/flows.js';
import { TERMINAL_STATUSES, type Channel, type NotificationStatus } from '../domain/types.js';
import { rowsOf, type Db } from './client.js';
import { flowVersions, flows, notifications, recipients } from './schema.js';
import { recordOutcome, type DeliveryRecord } from './deliveries.js';
import type { RecipientRow } from './recipients.js';

export type FlowVersionRow = typeof flowVersions.$inferSelect;

/** Publishes the next version (1 for a new flow); concurrent publishes get consecutive versions. */
export async function insertFlowVersion(db: Db, tenantId: string, key: string, steps: Record<string, unknown>[]): Promise<number> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(flows)
      .set({ latestVersion: sql`${flows.latestVersion} + 1`, updatedAt: sql`now()` })
      .where(and(eq(flows.tenantId, tenantId), eq(flows.key, key)))
      .returning({ v: flows.latestVersion });
    let v = row?.v;
    if (v === undefined) {
      // A concurrent first publish takes 1: this one then takes the next.
      const created = await tx.insert(flows).values({ tenantId, key, latestVersion: 1 }).onConflictDoNothing().returning({ v: flows.latestVersion });
      if (created.length) v = 1;
      else {
        const [again] = await tx
          .update(flows)
          .set({ latestVersion: sql`${flows.latestVersion} + 1`, updatedAt: sql`now()` })
          .where(and(eq(flows.tenantId, tenantId), eq(flows.key, key)))
          .returning({ v: flows.latestVersion });
        v = again.v;
      }
    }
    await tx.insert(flowVersions).values({ tenantId, key, version: v, steps });
    return v;
  });
}

/** A flow's latest version (or the one asked for), or undefined. */
export async function flowVersion(db: Db, tenantId: string, key: string, version?: number): Promise<FlowVersionRow | undefined> {
  const [row] = await db
    .select({ tenantId: flowVersions.tenantId, key: flowVersions.key, version: flowVersions.version, steps: flowVersions.steps, createdAt: flowVersions.createdAt })
    .from(flowVersions)
    .innerJoin(flows, and(eq(flows.tenantId, flowVersions.tenantId), eq(flows.key, flowVersions.key)))
    .where(
      and(
        eq(flowVersions.tenantId, tenantId),
        eq(flowVersions.key, key),
        version === undefined ? eq(flowVersions.version, flows.latestVersion) : eq(flowVersions.version, version),
      ),
    );
  return row;
}

/** What a flow run's accepted row holds besides its input. */
export interface FlowAccepted {
  templateKey: string;
  templateVersion: number;
  channels: Channel[];
  steps: StepState[];
  workflowId: string;
  /** The event (POST /v1/events) whose rule accepted it, if any. */
  eventId?: string | null;
}

/**
 * A flow run's accepted record (row with its flow and pinned version, a pending delivery per
 * channel its sends may use, first event) in one statement, unless it exists: the API writes it
 * after the start, the run's first step too, and whichever comes first wins.
 */
function recordFlowAcceptedStatement(input: FlowInput, first: FlowAccepted): SQL {
  return sql`with n as (
      insert into notifications (id, tenant_id, recipient_id, template_key, template_version, category, priority, strategy, channels, data, status, workflow_id, flow_key, flow_version, steps, event_id)
      values (${input.notificationId}, ${input.tenantId}, ${input.recipientId}, ${first.templateKey}, ${first.templateVersion}, ${input.category},
        ${input.priority}, 'all', ${JSON.stringify(first.channels)}::jsonb, ${JSON.stringify(input.data)}::jsonb, 'accepted', ${first.workflowId},
        ${input.flow.key}, ${input.flow.version}, ${JSON.stringify(first.steps)}::jsonb, ${first.eventId ?? null})
      on conflict do nothing
      returning id
    ), d as (
      insert into deliveries (id, notification_id, tenant_id, template_key, category, position, channel, status)
      select n.id || '.' || c.channel, n.id, ${input.tenantId}, ${first.templateKey}, ${input.category}, c.position - 1, c.channel, 'pending'
      from n, jsonb_array_elements_text(${JSON.stringify(first.channels)}::jsonb) with ordinality as c(channel, position)
    ), e as (
      insert into notification_events (notification_id, status) select id, 'accepted' from n
    )`;
}

export async function recordFlowAccepted(db: Db, input: FlowInput, first: FlowAccepted): Promise<void> {
  await db.execute(sql`${recordFlowAcceptedStatement(input, first)} select count(*) from n`);
}

/** The recipient's row (with attributes), or undefined; with `accepted`, the run's accepted record is written in the same statement. */
export async function recipientRow(db: Db, tenantId: string, recipientId: string, accepted?: { input: FlowInput; first: FlowAccepted }): Promise<RecipientRow | undefined> {
  const select = sql`select ${sql.join(
    Object.entries(getTableColumns(recipients)).map(([key, column]) => sql`${sql.identifier(column.name)} as ${sql.identifier(key)}`),
    sql`, `,
  )} from recipients where tenant_id = ${tenantId} and id = ${recipientId}`;
  const [row] = rowsOf<RecipientRow>(await db.execute(accepted ? sql`${recordFlowAcceptedStatement(accepted.input, accepted.first)} ${select}` : select));
  return row;
}

/**
 * A flow run's step states, with its status and delivery outcomes when given, in one statement
 * each. With `inboxRead`, answers whether the notification's inbox item is read (a wait for
 * `read` asks after it recorded that it waits, so a read is never missed: see usecases/flows.ts).
 */
export async function recordFlowSteps(
  db: Db,
  notificationId: string,
  steps: StepState[],
  opts: { status?: { status: NotificationStatus; reason: string | null; releaseAt?: string | null }; deliveries?: DeliveryRecord[] } = {},
): Promise<void> {
  await db.update(notifications).set({ steps: steps as unknown as Record<string, unknown>[], updatedAt: sql`now()` }).where(eq(notifications.id, notificationId));
  if (opts.status || opts.deliveries?.length) await recordOutcome(db, notificationId, opts.deliveries ?? [], opts.status);
}

/** Whether the notification's inbox item exists and is read. */
export async function inboxItemRead(db: Db, notificationId: string): Promise<boolean> {
  const rows = rowsOf<{ read: boolean }>(await db.execute(sql`select read from inbox_messages where notification_id = ${notificationId}`));
  return rows[0]?.read === true;
}

const RUNNING = TERMINAL_STATUSES as readonly string[];

/**
 * Of these notifications, the flow runs still going whose steps show a running wait for
 * `waitingFor` (`read`, `event:<name>`): exact, as the run records the wait before it waits.
 */
export async function flowRunsWaiting(db: Db, tenantId: string, filter: { notificationIds?: readonly string[]; recipientIds?: readonly string[] }, waitingFor: string): Promise<string[]> {
  const conds = [eq(notifications.tenantId, tenantId), isNotNull(notifications.flowKey), notInArray(notifications.status, [...RUNNING])];
  if (filter.notificationIds) {
    if (filter.notificationIds.length === 0) return [];
    conds.push(inArray(notifications.id, [...filter.notificationIds]));
  }
  if (filter.recipientIds) {
    if (filter.recipientIds.length === 0) return [];
    conds.push(inArray(notifications.recipientId, [...filter.recipientIds]));
  }
  conds.push(sql`${notifications.steps} @> ${JSON.stringify([{ status: 'running', waitingFor }])}::jsonb`);
  const rows = await db.select({ id: notifications.id }).from(notifications).where(and(...conds));
  return rows.map((r) => r.id);
}

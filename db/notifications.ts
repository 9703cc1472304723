// Notifications: the records of accepted ones (with their pending deliveries and first event),
// and the reads the API makes: one by id, a page newest first, their deliveries.
import { and, desc, eq, getTableColumns, inArray, lt, or, sql, type SQL } from 'drizzle-orm';
import { deliveryId } from '../domain/delivery.js';
import type { NotificationInput, NotificationStatus, Priority } from '../domain/types.js';
import { rowsOf, type Db } from './client.js';
import { deliveries, notificationEvents, notifications, recipients } from './schema.js';
import type { RecipientRow } from './recipients.js';
import { emitLifecycleEvents, emitNotificationEvents, notificationEventsOf } from './lifecycle-events.js';
import { fixedStatement } from './fixed-statement.js';

export type NotificationRow = typeof notifications.$inferSelect;
export type DeliveryRow = typeof deliveries.$inferSelect;

export async function findNotification(db: Db, tenantId: string, id: string): Promise<NotificationRow | undefined> {
  const [row] = await db
    .select()
    .from(notifications)
    .where(and(eq(notifications.tenantId, tenantId), eq(notifications.id, id)));
  return row;
}

/** The deliveries of these notifications, any order. */
export async function deliveriesOf(db: Db, notificationIds: readonly string[]): Promise<DeliveryRow[]> {
  if (notificationIds.length === 0) return [];
  return db.select().from(deliveries).where(inArray(deliveries.notificationId, [...notificationIds]));
}

/** A position in the newest-first order: the last row of the previous page. */
export interface NotificationCursor {
  createdAt: Date;
  id: string;
}

/** Up to `limit` of the tenant's notifications, newest first, after `cursor`, filtered by recipient and status. */
export async function notificationPage(
  db: Db,
  tenantId: string,
  filter: { recipientId?: string; status?: string; after?: NotificationCursor },
  limit: number,
): Promise<NotificationRow[]> {
  const conds = [eq(notifications.tenantId, tenantId)];
  if (filter.recipientId) conds.push(eq(notifications.recipientId, filter.recipientId));
  if (filter.status) conds.push(eq(notifications.status, filter.status));
  if (filter.after) {
    const cur = filter.after;
    conds.push(or(lt(notifications.createdAt, cur.createdAt), and(eq(notifications.createdAt, cur.createdAt), lt(notifications.id, cur.id)))!);
  }
  return db
    .select()
    .from(notifications)
    .where(and(...conds))
    .orderBy(desc(notifications.createdAt), desc(notifications.id))
    .limit(limit);
}

/** The recipients table's columns, each as the key drizzle's RecipientRow has (raw statements answer rows of that shape). */
const recipientColumns = () =>
  sql.join(
    Object.entries(getTableColumns(recipients)).map(([key, column]) => sql`${sql.identifier(column.name)} as ${sql.identifier(key)}`),
    sql`, `,
  );

const recipientAndLatest = fixedStatement(
  () => sql`select ${recipientColumns()},
      (select latest_version from templates where tenant_id = ${sql.placeholder('tenantId')} and key = ${sql.placeholder('templateKey')}) as "__latest"
    from recipients where tenant_id = ${sql.placeholder('tenantId')} and id = ${sql.placeholder('recipientId')}`,
);

/** The recipient and the latest version number of a template, in one round trip (acceptance); undefined without the recipient. */
export async function recipientWithLatestTemplate(
  db: Db,
  tenantId: string,
  recipientId: string,
  templateKey: string,
): Promise<{ recipient: RecipientRow; latest: number | null } | undefined> {
  const [row] = rowsOf<RecipientRow & { __latest: number | null }>(await recipientAndLatest(db, 'one', { tenantId, recipientId, templateKey }));
  if (!row) return undefined;
  const { __latest: latest, ...recipient } = row;
  return { recipient, latest };
}

export async function notificationStatus(db: Db, id: string): Promise<NotificationStatus | undefined> {
  const [row] = await db.select({ status: notifications.status }).from(notifications).where(eq(notifications.id, id));
  return row?.status as NotificationStatus | undefined;
}

export interface NotificationRecord {
  input: NotificationInput;
  workflowId: string;
  status?: NotificationStatus;
  reason?: string | null;
  releaseAt?: string | null;
  broadcastId?: string | null;
  /** The event whose rule accepted it (POST /v1/events). */
  eventId?: string | null;
}

/**
 * Writes accepted notifications (row, pending deliveries, first event) in one transaction.
 * Rows that exist already are left alone, so a retried page or a second writer changes
 * nothing. Answers the ids it wrote.
 */
export async function recordNotifications(db: Db, records: NotificationRecord[]): Promise<Set<string>> {
  if (records.length === 0) return new Set();
  return db.transaction(async (tx) => {
    const inserted = await tx
      .insert(notifications)
      .values(
        records.map(({ input, ...r }) => ({
          ...inputColumns(input),
          channels: input.channels,
          data: input.data,
          status: r.status ?? 'accepted',
          reason: r.reason ?? null,
          sendAt: input.sendAt ? new Date(input.sendAt) : null,
          releaseAt: r.releaseAt ? new Date(r.releaseAt) : null,
          workflowId: r.workflowId,
          broadcastId: r.broadcastId ?? null,
          eventId: r.eventId ?? null,
        })),
      )
      .onConflictDoNothing()
      .returning({ id: notifications.id });
    const ids = new Set(inserted.map((r) => r.id));
    const fresh = records.filter((r) => ids.has(r.input.notificationId));
    const rows = fresh.flatMap(({ input }) =>
      input.channels.map((channel, position) => ({
        id: deliveryId(input.notificationId, channel),
        notificationId: input.notificationId,
        tenantId: input.tenantId,
        templateKey: input.template.key,
        category: input.category ?? null,
        position,
        channel,
        status: 'pending',
      })),
    );
    if (rows.length) await tx.insert(deliveries).values(rows);
    if (fresh.length)
      await tx
        .insert(notificationEvents)
        .values(fresh.map((r) => ({ notificationId: r.input.notificationId, status: r.status ?? 'accepted', reason: r.reason ?? null })));
    await emitNotificationEvents(
      tx,
      fresh.map(({ input, ...r }) => ({ id: input.notificationId, tenantId: input.tenantId, recipientId: input.recipientId, templateKey: input.template.key, status: r.status ?? 'accepted', reason: r.reason ?? null })),
    );
    return ids;
  });
}

/**
 * The accepted notification's row, its pending deliveries and its first event, in one
 * statement; nothing when the row exists already. The API writes it after the start (so a
 * read right after the 202 finds it) and the workflow's first local activity writes it too
 * (so a run whose API died before writing still has its record): whichever comes first wins.
 */
function recordAcceptedStatement(): SQL {
  const p = (name: string) => sql.placeholder(name);
  return sql`with n as (
      insert into notifications (id, tenant_id, recipient_id, template_key, template_version, category, priority, strategy, channels, data, status, send_at, workflow_id, event_id)
      values (${p('id')}, ${p('tenantId')}, ${p('recipientId')}, ${p('templateKey')}, ${p('templateVersion')}, ${p('category')},
        ${p('priority')}, ${p('strategy')}, ${p('channels')}::jsonb, ${p('data')}::jsonb, 'accepted',
        ${p('sendAt')}::timestamptz, ${p('workflowId')}, ${p('eventId')})
      on conflict do nothing
      returning id, tenant_id, recipient_id, template_key, status, reason
    ), d as (
      insert into deliveries (id, notification_id, tenant_id, template_key, category, position, channel, status)
      select n.id || '.' || c.channel, n.id, ${p('tenantId')}, ${p('templateKey')}, ${p('category')}, c.position - 1, c.channel, 'pending'
      from n, jsonb_array_elements_text(${p('channels')}::jsonb) with ordinality as c(channel, position)
    ), e as (
      insert into notification_events (notification_id, status) select id, 'accepted' from n
    ), ${emitLifecycleEvents('accepted', notificationEventsOf('n'), { onlyWithEndpoints: true })}`;
}

/** The columns of an accepted notification's row that its input gives as they are. */
function inputColumns(input: NotificationInput) {
  return {
    id: input.notificationId,
    tenantId: input.tenantId,
    recipientId: input.recipientId,
    templateKey: input.template.key,
    templateVersion: input.template.version,
    category: input.category,
    priority: input.priority,
    strategy: input.strategy,
  };
}

/** The values of recordAcceptedStatement's placeholders. */
function acceptedValues(input: NotificationInput, workflowId: string, eventId: string | null = null) {
  return {
    ...inputColumns(input),
    channels: JSON.stringify(input.channels),
    data: JSON.stringify(input.data),
    sendAt: input.sendAt,
    workflowId,
    eventId,
  };
}

const acceptedRecord = fixedStatement(() => sql`${recordAcceptedStatement()} select count(*) from n`);

/** `eventId`: the event whose rule accepted it (one statement where recordNotifications takes a transaction). */
export async function recordAccepted(db: Db, input: NotificationInput, workflowId: string, eventId: string | null = null): Promise<void> {
  await acceptedRecord(db, 'one', acceptedValues(input, workflowId, eventId));
}

const recipientRow = fixedStatement((record: 'recording' | 'reading') => {
  const select = sql`select ${recipientColumns()} from recipients where tenant_id = ${sql.placeholder('rowTenantId')} and id = ${sql.placeholder('rowRecipientId')}`;
  return record === 'recording' ? sql`${recordAcceptedStatement()} ${select}` : select;
});

/**
 * The recipient's row as of now; with `accepted` (a run's first step), the notification's
 * accepted record is written in the same statement unless it exists.
 */
export async function recipientRecordingAccepted(
  db: Db,
  tenantId: string,
  recipientId: string,
  accepted?: { input: NotificationInput; workflowId: string },
): Promise<RecipientRow | undefined> {
  const row = { rowTenantId: tenantId, rowRecipientId: recipientId };
  const values = accepted ? { ...acceptedValues(accepted.input, accepted.workflowId), ...row } : row;
  const [found] = rowsOf<RecipientRow>(await recipientRow(db, accepted ? 'recording' : 'reading', values));
  return found;
}

/** A digest window closed: its row gets the joined items and passes to its notification workflow. */
export async function closeDigestWindow(db: Db, id: string, data: Record<string, unknown>, workflowId: string): Promise<void> {
  await db.update(notifications).set({ data, releaseAt: null, workflowId, updatedAt: sql`now()` }).where(eq(notifications.id, id));
}

/** Cancels those of `ids` still accepted (written, never started), with their pending deliveries; how many. */
export async function cancelUnstarted(db: Db, ids: readonly string[]): Promise<number> {
  if (ids.length === 0) return 0;
  return db.transaction(async (tx) => {
    const done = await tx
      .update(notifications)
      .set({ status: 'cancelled', updatedAt: sql`now()` })
      .where(and(inArray(notifications.id, [...ids]), eq(notifications.status, 'accepted')))
      .returning({ id: notifications.id, tenantId: notifications.tenantId, recipientId: notifications.recipientId, templateKey: notifications.templateKey });
    const cancelled = done.map((r) => r.id);
    if (cancelled.length === 0) return 0;
    await tx
      .update(deliveries)
      .set({ status: 'cancelled', updatedAt: sql`now()` })
      .where(and(inArray(deliveries.notificationId, cancelled), eq(deliveries.status, 'pending')));
    await tx.insert(notificationEvents).values(cancelled.map((notificationId) => ({ notificationId, status: 'cancelled' })));
    await emitNotificationEvents(tx, done.map((r) => ({ ...r, status: 'cancelled' })));
    return cancelled.length;
  });
}

/** Which of `ids` have a notification row. */
export async function existingNotificationIds(db: Db, ids: readonly string[]): Promise<Set<string>> {
  const rows = await db.select({ id: notifications.id }).from(notifications).where(inArray(notifications.id, [...ids]));
  return new Set(rows.map((r) => r.id));
}

/** A notification's priority (push maps it to each provider's urgency). */
export async function notificationPriority(db: Db, id: string): Promise<Priority | undefined> {
  const [row] = await db.select({ priority: notifications.priority }).from(notifications).where(eq(notifications.id, id));
  return row?.priority as Priority | undefined;
}

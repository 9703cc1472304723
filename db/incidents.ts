// Incidents and their timelines: the rows the escalation workflow's records write
// (activities/escalation.ts) and the API reads (usecases/incidents.ts).
import { and, asc, count, desc, eq, lt, ne, sql } from 'drizzle-orm';
import type { IncidentRecord, IncidentSeverity, IncidentStatus, TimelineEvent } from '../domain/incidents.js';
import type { Db } from './client.js';
import { emitLifecycleEvents } from './lifecycle-events.js';
import { incidentEvents, incidents } from './schema.js';

type IncidentRow = typeof incidents.$inferSelect;

/** An incident by id; within a tenant when `tenantId` is given (the Slack button knows none). */
export async function findIncident(db: Db, id: string, tenantId?: string): Promise<IncidentRow | undefined> {
  const [row] = await db
    .select()
    .from(incidents)
    .where(tenantId === undefined ? eq(incidents.id, id) : and(eq(incidents.tenantId, tenantId), eq(incidents.id, id)));
  return row;
}

/** The incident's timeline in order; with `beforeSeq`, only the events before that position. */
export async function incidentTimeline(db: Db, id: string, beforeSeq?: number): Promise<TimelineEvent[]> {
  const events = await db
    .select()
    .from(incidentEvents)
    .where(and(eq(incidentEvents.incidentId, id), beforeSeq === undefined ? undefined : lt(incidentEvents.seq, beforeSeq)))
    .orderBy(asc(incidentEvents.seq));
  return events.map((e) => ({
    at: e.at.toISOString(),
    type: e.type as TimelineEvent['type'],
    ...(e.channel ? { channel: e.channel as TimelineEvent['channel'] } : {}),
    ...(e.target ? { target: e.target } : {}),
    ...(e.by ? { by: e.by } : {}),
  }));
}

/** The newest incident of a dedupKey's workflow that the database shows open. */
export async function openIncidentOf(db: Db, tenantId: string, dedupKey: string, workflowId: string): Promise<{ id: string; status: IncidentStatus } | undefined> {
  const [row] = await db
    .select({ id: incidents.id, status: incidents.status })
    .from(incidents)
    .where(and(eq(incidents.tenantId, tenantId), eq(incidents.dedupKey, dedupKey), eq(incidents.workflowId, workflowId), ne(incidents.status, 'resolved')))
    .orderBy(desc(incidents.createdAt))
    .limit(1);
  return row && { id: row.id, status: row.status as IncidentStatus };
}

/** How many duplicate triggers the incident's timeline holds. */
export async function duplicateCount(db: Db, incidentId: string): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(incidentEvents)
    .where(and(eq(incidentEvents.incidentId, incidentId), eq(incidentEvents.type, 'deduplicated')));
  return Number(row?.n ?? 0);
}

/** Creates the incident (first record), moves its status, appends the timeline events; a repeat writes nothing twice. */
export async function recordIncident(db: Db, rec: IncidentRecord): Promise<void> {
  await db.transaction(async (tx) => {
    if (rec.open) {
      await tx
        .insert(incidents)
        .values({
          id: rec.incidentId,
          tenantId: rec.open.tenantId,
          policyKey: rec.open.policyKey,
          summary: rec.open.summary,
          severity: rec.open.severity satisfies IncidentSeverity,
          dedupKey: rec.open.dedupKey,
          details: rec.open.details,
          status: rec.status,
          step: rec.step,
          cycle: rec.cycle,
          workflowId: rec.open.workflowId,
          createdAt: new Date(rec.event.at),
        })
        .onConflictDoNothing({ target: incidents.id });
    }
    await tx
      .update(incidents)
      .set({ status: rec.status, step: rec.step, cycle: rec.cycle, updatedAt: sql`now()` })
      .where(eq(incidents.id, rec.incidentId));
    const written = await tx
      .insert(incidentEvents)
      .values(
        [{ seq: rec.seq, event: rec.event }, ...(rec.more ?? [])].map(({ seq, event }) => ({
          incidentId: rec.incidentId,
          seq,
          type: event.type,
          channel: event.channel ?? null,
          target: event.target ?? null,
          by: event.by ?? null,
          at: new Date(event.at),
        })),
      )
      .onConflictDoNothing({ target: [incidentEvents.incidentId, incidentEvents.seq] })
      .returning({ seq: incidentEvents.seq, type: incidentEvents.type });
    // Lifecycle webhooks: a timeline event that changes the incident's state, once (its seq is the key).
    const changes = written.filter((e) => e.type === 'triggered' || e.type === 'acknowledged' || e.type === 'resolved');
    if (changes.length === 0) return;
    const rows = JSON.stringify(changes);
    const source = sql`select i.tenant_id, 'incident.' || t.type as type, null::text as recipient_id,
        jsonb_build_object('incidentId', i.id, 'status', t.type, 'severity', i.severity, 'policy', i.policy_key) as data,
        i.id || ':incident.' || t.type || ':' || t.seq as dedup_key
      from incidents i, jsonb_to_recordset(${rows}::jsonb) as t(seq integer, type text) where i.id = ${rec.incidentId}`;
    await tx.execute(sql`with ${emitLifecycleEvents('incident', source, { onlyWithEndpoints: true })} select 1`);
  });
}

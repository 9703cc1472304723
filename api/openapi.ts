// The OpenAPI 3.1 document, built from the same zod schemas the routes validate with.
// api/openapi.test.ts checks that every mounted route is described here.
import { z } from 'zod';
import { PolicyBody } from './routes/escalation-policies.js';
import { IncidentBody } from './routes/incidents.js';
import { BroadcastBody, BulkRecipientsBody, JsonObject, Locale, NotificationBody, PreferencesBody, RecipientBody, ScheduleBody, TemplateBody, TemplateKey } from '../usecases/schemas.js';

type Method = 'get' | 'post' | 'put' | 'delete';
interface Op {
  summary: string;
  body?: z.ZodType;
  /** Status → description of the success answer. */
  ok: Record<number, string>;
  auth?: 'admin' | 'tenant' | 'none' | 'provider';
  query?: string[];
}

const by = z.object({ by: z.string().min(1).max(200) });
const byOptional = z.object({ by: z.string().min(1).max(200).optional() });

/** Paths in OpenAPI form (`{param}`), by method. */
export const OPERATIONS: Record<string, Partial<Record<Method, Op>>> = {
  '/healthz': { get: { summary: 'Liveness', ok: { 200: 'The process lives' }, auth: 'none' } },
  '/readyz': { get: { summary: 'Readiness of the database and Temporal, and channel configuration', ok: { 200: 'Ready', 503: 'Not ready; names what failed' }, auth: 'none' } },
  '/openapi.json': { get: { summary: 'This document', ok: { 200: 'OpenAPI 3.1' }, auth: 'none' } },
  '/v1/admin/tenants': { post: { summary: 'Create a tenant (its API key is shown once)', body: z.object({ name: z.string().min(1).max(200) }), ok: { 201: '{id,name,apiKey,webhookSecret}' }, auth: 'admin' } },
  '/v1/admin/tenants/{id}/api-keys': { post: { summary: 'Issue another API key (rotation)', ok: { 201: '{apiKey,keyPrefix}' }, auth: 'admin' } },
  '/v1/admin/tenants/{id}/api-keys/{keyPrefix}': { delete: { summary: 'Revoke an API key', ok: { 204: 'Revoked' }, auth: 'admin' } },
  '/v1/recipients/bulk': {
    post: { summary: 'Create or replace up to 1,000 recipients at once; a bad entry is a 400 naming its index, and nothing is written', body: BulkRecipientsBody, ok: { 200: '{upserted}' } },
  },
  '/v1/recipients/{recipientId}': {
    put: { summary: 'Create or replace a recipient', body: RecipientBody, ok: { 200: 'The stored recipient' } },
    get: { summary: 'A recipient', ok: { 200: 'The recipient' } },
  },
  '/v1/recipients/{recipientId}/preferences': {
    put: { summary: 'Set preferences and quiet hours', body: PreferencesBody, ok: { 200: 'The stored preferences' } },
    get: { summary: 'Preferences', ok: { 200: 'The preferences' } },
  },
  '/v1/recipients/{rid}/inbox': { get: { summary: 'In-app inbox, newest first', query: ['unread', 'limit', 'cursor'], ok: { 200: '{data,nextCursor,unread}' } } },
  '/v1/recipients/{rid}/inbox/count': { get: { summary: 'Inbox counts', ok: { 200: '{total,unread}' } } },
  '/v1/recipients/{rid}/inbox/read-all': { post: { summary: 'Mark every message read', ok: { 200: '{updated}' } } },
  '/v1/recipients/{rid}/inbox/{messageId}/read': { post: { summary: 'Mark a message read', ok: { 200: '{updated}' } } },
  '/v1/recipients/{rid}/inbox/{messageId}': { delete: { summary: 'Delete a message', ok: { 204: 'Deleted' } } },
  '/v1/recipients/{rid}/inbox/stream': { get: { summary: 'Server-sent events, one `message` per new inbox message', ok: { 200: 'text/event-stream' } } },
  '/v1/templates': { post: { summary: 'Create a template (version 1)', body: TemplateBody.extend({ key: TemplateKey }), ok: { 201: '{key,version}' } } },
  '/v1/templates/{key}': {
    put: { summary: 'Publish a new version', body: TemplateBody, ok: { 200: '{key,version}' } },
    get: { summary: 'The latest version', ok: { 200: 'The template version' } },
  },
  '/v1/templates/{key}/versions/{version}': { get: { summary: 'One version', ok: { 200: 'The template version' } } },
  '/v1/templates/{key}/preview': {
    post: { summary: 'Render with sample data; 400 names missing variables', body: z.object({ data: JsonObject, locale: Locale.optional(), version: z.number().int().min(1).optional() }), ok: { 200: 'Rendered content per channel' } },
  },
  '/v1/notifications': {
    post: { summary: 'Send a notification (optional Idempotency-Key header)', body: NotificationBody, ok: { 202: '{id,status}' } },
    get: { summary: 'List notifications', query: ['recipient', 'status', 'limit', 'cursor'], ok: { 200: '{data,nextCursor}' } },
  },
  '/v1/notifications/{id}': { get: { summary: 'A notification with its deliveries', ok: { 200: 'The notification' } } },
  '/v1/notifications/{id}/cancel': { post: { summary: 'Cancel; nothing is sent after 200', ok: { 200: '{status:"cancelled"}' } } },
  '/v1/broadcasts': { post: { summary: 'Send to many recipients', body: BroadcastBody, ok: { 202: '{id}' } } },
  '/v1/broadcasts/{id}': { get: { summary: 'Broadcast progress', ok: { 200: '{id,status,total,sent,failed,suppressed,pending}' } } },
  '/v1/broadcasts/{id}/cancel': { post: { summary: 'Stop every recipient not yet sent', ok: { 200: 'The broadcast' } } },
  '/v1/schedules/{scheduleId}': {
    put: { summary: 'Create or replace a recurring schedule (a Temporal Schedule)', body: ScheduleBody, ok: { 200: 'The schedule' } },
    get: { summary: 'A schedule with nextRunAt and recentRuns', ok: { 200: 'The schedule' } },
    delete: { summary: 'Delete a schedule', ok: { 204: 'Deleted' } },
  },
  '/v1/schedules/{scheduleId}/trigger': { post: { summary: 'Run a schedule now', ok: { 200: 'Triggered' } } },
  '/v1/escalation-policies/{key}': {
    put: { summary: 'Create or replace an escalation policy', body: PolicyBody, ok: { 200: 'The policy' } },
    get: { summary: 'An escalation policy', ok: { 200: 'The policy' } },
  },
  '/v1/incidents': { post: { summary: 'Trigger an incident (deduplicated by dedupKey while open)', body: IncidentBody, ok: { 202: '{id,status}' } } },
  '/v1/incidents/{id}': { get: { summary: 'An incident with its timeline', ok: { 200: 'The incident' } } },
  '/v1/incidents/{id}/acknowledge': { post: { summary: 'Acknowledge: stops every pending page', body: by, ok: { 200: 'The incident' } } },
  '/v1/incidents/{id}/unacknowledge': { post: { summary: 'Unacknowledge: escalation restarts from the first step', body: byOptional, ok: { 200: 'The incident' } } },
  '/v1/incidents/{id}/resolve': { post: { summary: 'Resolve: pages are resolved, Slack messages updated', body: byOptional, ok: { 200: 'The incident' } } },
  '/v1/slack/interactivity': { post: { summary: "Slack's interactivity callback (Acknowledge button), signed by Slack", ok: { 200: 'Handled' }, auth: 'provider' } },
  '/v1/receipts/twilio': { post: { summary: 'Twilio status callbacks (X-Twilio-Signature)', ok: { 200: 'Handled' }, auth: 'provider' } },
  '/v1/receipts/resend': { post: { summary: 'Resend delivery webhooks (Svix signature)', ok: { 200: 'Handled' }, auth: 'provider' } },
};

const Problem = {
  type: 'object',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string', description: 'A machine-readable reason, where a client may act on it (template_limit_exceeded)' },
    errors: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
  },
};

function schemaOf(s: z.ZodType) {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

export function openApiDocument() {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [path, ops] of Object.entries(OPERATIONS)) {
    paths[path] = {};
    for (const [method, op] of Object.entries(ops) as Array<[Method, Op]>) {
      const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
      for (const q of op.query ?? []) params.push({ name: q, in: 'query', required: false, schema: { type: 'string' } });
      const auth = op.auth ?? 'tenant';
      paths[path][method] = {
        summary: op.summary,
        ...(params.length ? { parameters: params } : {}),
        ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(op.body) } } } } : {}),
        security: auth === 'admin' ? [{ admin: [] }] : auth === 'tenant' ? [{ apiKey: [] }] : [],
        responses: {
          ...Object.fromEntries(Object.entries(op.ok).map(([status, description]) => [status, { description }])),
          '4XX': { description: 'Client error', content: { 'application/problem+json': { schema: Problem } } },
        },
      };
    }
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Tocsin', version: '1.0.0', description: 'Durable notifications on Temporal.' },
    components: {
      securitySchemes: {
        admin: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' },
        apiKey: { type: 'http', scheme: 'bearer', description: "A tenant's API key" },
      },
    },
    paths,
  };
}

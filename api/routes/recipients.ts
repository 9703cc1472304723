import { createRoute, z } from '@hono/zod-openapi';
import { toRecipient, type RecipientRow } from '../../db/recipients.js';
import type { Preferences } from '../../domain/types.js';
import { getRecipient, putRecipient, putRecipients, setRecipientPreferences } from '../../usecases/recipients.js';
import { requestErasure } from '../../usecases/erasure.js';
import { json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';
import { BulkRecipientsBody, PreferencesBody, RecipientBody, RecipientId } from '../../usecases/schemas.js';

const Param = z.object({ recipientId: RecipientId });

const RecipientView = z
  .object({
    id: z.string(),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    slack: z.string().nullable(),
    webhookUrl: z.string().nullable(),
    pagerRoutingKey: z.string().nullable(),
    whatsapp: z.string().nullable(),
    telegramChatId: z.string().nullable(),
    locale: z.string(),
    timezone: z.string(),
    name: z.string().nullable(),
    attributes: z.record(z.string(), z.unknown()),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .openapi('Recipient');
const Toggles = z.record(z.string(), z.boolean());
export const PreferencesView = z
  .object({
    channels: Toggles,
    categories: z.record(z.string(), z.object({ enabled: z.boolean().optional(), channels: Toggles.optional() })),
    quietHours: z.object({ start: z.string(), end: z.string(), timezone: z.string().optional() }).nullable(),
  })
  .openapi('Preferences');

function present(row: RecipientRow) {
  return { ...toRecipient(row), attributes: row.attributes ?? {}, createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString() };
}

export function recipientRoutes(deps: AppDeps) {
  const app = router<Env>();

  // Before the `/:recipientId` routes, so that `bulk` is never read as a recipient id.
  const bulk = createRoute({
    method: 'post',
    path: '/bulk',
    summary: 'Create or replace up to 1,000 recipients at once',
    description: 'One statement: all or none. A bad entry is a 400 whose `errors[].path` names its index (`recipients.3.phone`).',
    security: security.tenant,
    request: { body: jsonBody(BulkRecipientsBody) },
    responses: { 200: json(z.object({ upserted: z.number().int() }), 'Written'), ...tenantProblems() },
  });
  app.openapi(bulk, async (c) => {
    return c.json({ upserted: await putRecipients(deps, c.get('tenantId'), c.req.valid('json').recipients) }, 200);
  });

  const put = createRoute({
    method: 'put',
    path: '/{recipientId}',
    summary: 'Create or replace a recipient',
    description: 'A field left out is cleared; preferences and `createdAt` survive.',
    security: security.tenant,
    request: { params: Param, body: jsonBody(RecipientBody) },
    responses: { 200: json(RecipientView, 'The stored recipient'), ...tenantProblems() },
  });
  app.openapi(put, async (c) => {
    const row = await putRecipient(deps, c.get('tenantId'), { ...c.req.valid('json'), id: c.req.valid('param').recipientId });
    return c.json(present(row), 200);
  });

  const get = createRoute({
    method: 'get',
    path: '/{recipientId}',
    summary: 'A recipient',
    security: security.tenant,
    request: { params: Param },
    responses: { 200: json(RecipientView, 'The recipient'), ...tenantProblems() },
  });
  app.openapi(get, async (c) => {
    return c.json(present(await getRecipient(deps, c.get('tenantId'), c.req.valid('param').recipientId)), 200);
  });

  const erase = createRoute({
    method: 'delete',
    path: '/{recipientId}',
    summary: 'Erase a recipient (GDPR Art. 17)',
    description:
      'The recipient, its preferences, devices and inbox go at once (GET answers 404). An erasure workflow then cancels its running notifications, deletes the Temporal histories of its notifications and digests and the rows of its notifications, deliveries and attempts, within a minute. Suppressions of its addresses stay, as hashes only. Asking again while it runs joins it.',
    security: security.tenant,
    request: { params: Param },
    responses: { 202: json(z.object({ status: z.literal('erasing') }), 'The erasure has begun'), ...tenantProblems() },
  });
  app.openapi(erase, async (c) => c.json(await requestErasure(deps, c.get('tenantId'), c.req.valid('param').recipientId), 202));

  const putPreferences = createRoute({
    method: 'put',
    path: '/{recipientId}/preferences',
    summary: 'Set preferences and quiet hours',
    description: 'Absent means allowed; `quietHours: null` clears them.',
    security: security.tenant,
    request: { params: Param, body: jsonBody(PreferencesBody) },
    responses: { 200: json(PreferencesView, 'The stored preferences'), ...tenantProblems() },
  });
  app.openapi(putPreferences, async (c) => {
    const stored = await setRecipientPreferences(deps, c.get('tenantId'), c.req.valid('param').recipientId, c.req.valid('json'));
    return c.json(presentPrefs(stored), 200);
  });

  const getPreferences = createRoute({
    method: 'get',
    path: '/{recipientId}/preferences',
    summary: 'A recipient’s preferences',
    security: security.tenant,
    request: { params: Param },
    responses: { 200: json(PreferencesView, 'The preferences'), ...tenantProblems() },
  });
  app.openapi(getPreferences, async (c) => {
    const row = await getRecipient(deps, c.get('tenantId'), c.req.valid('param').recipientId);
    return c.json(presentPrefs(row.preferences), 200);
  });

  return app;
}

export function presentPrefs(p: Preferences) {
  return { channels: p.channels ?? {}, categories: p.categories ?? {}, quietHours: p.quietHours ?? null };
}

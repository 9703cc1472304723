// The recipient's side of the API. `POST /v1/recipients/{rid}/token` (a tenant key) issues a
// recipient token; `/v1/me/*` (that token, api/auth.ts) is the recipient's own inbox,
// preferences and devices, for browsers (CORS_ORIGINS, api/app.ts) and apps. The recipient comes
// from the token, never from the path, so no recipient can name another's data.
import { createRoute, z } from '@hono/zod-openapi';
import { unavailable } from '../../domain/errors.js';
import { deleteDevice, putDevice } from '../../usecases/devices.js';
import { archiveInboxMessage, listInbox, ownInboxCounts, readAllInbox, readInboxMessage } from '../../usecases/inbox.js';
import { issueMeToken, ME_TOKEN_MAX_TTL } from '../../usecases/me.js';
import { MAX_RECIPIENT_TOKEN_LENGTH, rotateTokenKey, type RecipientTokenDeps } from '../../usecases/recipient-tokens.js';
import { getRecipient, setRecipientPreferences } from '../../usecases/recipients.js';
import { DeviceBody, DeviceId, Pagination, PreferencesBody, RecipientId, ResourceId } from '../../usecases/schemas.js';
import { json, jsonBody, problems, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';
import { createInboxStreams } from '../inbox-streams.js';
import { DeviceView } from './devices.js';
import { InboxMessage, inboxStreamResponse, serveInboxStream, Updated } from './inbox.js';
import { PreferencesView, presentPrefs } from './recipients.js';

/** What a route under /v1/me may answer besides its own: as a tenant's, but the credential is a recipient token. */
const meProblems = () => problems(400, 401, 404, 413, 415, 429, 503);

/** The secrets that sign and verify recipient tokens, or 503 when TOCSIN_ENCRYPTION_KEYS is unset. */
export function recipientTokenDeps(deps: AppDeps): RecipientTokenDeps | undefined {
  return deps.encryptionKeys?.length ? { db: deps.db, encryptionKeys: deps.encryptionKeys, now: deps.now } : undefined;
}

/** `POST /{rid}/token` under /v1/recipients (a tenant's key). */
export function recipientTokenRoutes(deps: AppDeps) {
  const app = router<Env>();
  const issue = createRoute({
    method: 'post',
    path: '/{recipientId}/token',
    summary: 'Issue a recipient token that opens /v1/me for this recipient',
    description: `A signed token (HS256, this tenant's own secret) for a browser or an app: \`Authorization: Bearer <token>\` on /v1/me/*, or \`?token=\` on /v1/me/inbox/stream. \`ttlSeconds\` defaults to 3600, at most ${ME_TOKEN_MAX_TTL}.`,
    security: security.tenant,
    request: {
      params: z.object({ recipientId: RecipientId }),
      body: jsonBody(z.object({ ttlSeconds: z.number().int().min(60).max(ME_TOKEN_MAX_TTL).optional() }).strict(), false),
    },
    responses: { 201: json(z.object({ token: z.string(), expiresAt: Timestamp }).openapi('RecipientToken'), 'The token and when it expires'), ...tenantProblems() },
  });
  app.openapi(issue, async (c) => {
    const tokens = recipientTokenDeps(deps);
    if (!tokens) throw unavailable('Recipient tokens need TOCSIN_ENCRYPTION_KEYS to seal their secrets', undefined);
    // A POST without a body is valid: the default lifetime.
    const { ttlSeconds } = c.req.valid('json') ?? {};
    return c.json(await issueMeToken(tokens, c.get('tenantId'), c.req.valid('param').recipientId, ttlSeconds), 201);
  });
  return app;
}

/** `/v1/recipient-token-secrets`: the tenant rotates the secret its recipient tokens are signed with. */
export function tokenSecretRoutes(deps: AppDeps) {
  const app = router<Env>();
  const rotate = createRoute({
    method: 'post',
    path: '/',
    summary: 'Rotate the secret recipient tokens are signed with',
    description:
      'A new secret signs every token issued from now on. Tokens signed by older secrets keep working until they expire, unless `retireOthers` is true: then they answer 401 at once (within 5 s on other API instances), e.g. after a token leaked.',
    security: security.tenant,
    request: { body: jsonBody(z.object({ retireOthers: z.boolean().default(false) }).strict(), false) },
    responses: { 201: json(z.object({ kid: z.string(), retiredOthers: z.boolean() }).openapi('RecipientTokenSecret'), 'The new secret’s id'), ...tenantProblems() },
  });
  app.openapi(rotate, async (c) => {
    const tokens = recipientTokenDeps(deps);
    if (!tokens) throw unavailable('Recipient tokens need TOCSIN_ENCRYPTION_KEYS to seal their secrets', undefined);
    const retireOthers = c.req.valid('json')?.retireOthers ?? false;
    const { kid } = await rotateTokenKey(tokens, c.get('tenantId'), retireOthers);
    return c.json({ kid, retiredOthers: retireOthers }, 201);
  });
  return app;
}

const OwnListQuery = Pagination.extend({
  unread: z.enum(['true', 'false']).optional(),
  archived: z.enum(['true', 'false']).default('false').openapi({ description: 'Archived items only (`true`), or the others (default)' }),
});
const MessageParam = z.object({ messageId: ResourceId });

/** `/v1/me/*`: `authenticate` set the tenant and the recipient from the token. */
export function meRoutes(deps: AppDeps) {
  const { db } = deps;
  const app = router<Env>();
  const streams = deps.inboxStreams ?? createInboxStreams();
  const who = (c: { get(k: 'tenantId' | 'recipientId'): string }) => [c.get('tenantId'), c.get('recipientId')] as const;

  const list = createRoute({
    method: 'get',
    path: '/inbox',
    summary: 'My inbox, newest first (archived items only with archived=true)',
    security: security.recipient,
    request: { query: OwnListQuery },
    responses: { 200: json(z.object({ data: z.array(InboxMessage), nextCursor: z.string().nullable(), unread: z.number().int() }), 'A page, and the unread count of the unarchived items'), ...meProblems() },
  });
  app.openapi(list, async (c) => c.json(await listInbox(db, ...who(c), c.req.valid('query')), 200));

  const count = createRoute({
    method: 'get',
    path: '/inbox/count',
    summary: 'My inbox’s counts (archived items not counted)',
    security: security.recipient,
    responses: { 200: json(z.object({ total: z.number().int(), unread: z.number().int() }), 'Counts'), ...meProblems() },
  });
  app.openapi(count, async (c) => c.json(await ownInboxCounts(db, ...who(c)), 200));

  const readAll = createRoute({
    method: 'post',
    path: '/inbox/read-all',
    summary: 'Mark all my messages read',
    security: security.recipient,
    responses: { 200: json(Updated, 'How many were unread'), ...meProblems() },
  });
  app.openapi(readAll, async (c) => c.json(await readAllInbox(db, ...who(c), deps.temporal), 200));

  const read = createRoute({
    method: 'post',
    path: '/inbox/{messageId}/read',
    summary: 'Mark one of my messages read',
    security: security.recipient,
    request: { params: MessageParam },
    responses: { 200: json(Updated, '1 if it was unread, else 0'), ...meProblems() },
  });
  app.openapi(read, async (c) => c.json(await readInboxMessage(db, ...who(c), c.req.valid('param').messageId, deps.temporal), 200));

  const archive = createRoute({
    method: 'post',
    path: '/inbox/{messageId}/archive',
    summary: 'Archive one of my messages (hidden from my inbox from then on)',
    security: security.recipient,
    request: { params: MessageParam },
    responses: { 200: json(Updated, '1 if it was not archived, else 0'), ...meProblems() },
  });
  app.openapi(archive, async (c) => c.json(await archiveInboxMessage(db, ...who(c), c.req.valid('param').messageId), 200));

  const stream = createRoute({
    method: 'get',
    path: '/inbox/stream',
    summary: 'Server-sent events of my inbox: `ready`, then one `message` per new message',
    description: 'EventSource cannot send headers: here the token may come as `?token=` instead.',
    security: security.recipient,
    request: { query: z.object({ token: z.string().max(MAX_RECIPIENT_TOKEN_LENGTH).optional().openapi({ description: 'The recipient token (EventSource), instead of the Authorization header' }) }) },
    responses: { 200: inboxStreamResponse, ...meProblems() },
  });
  app.openapi(stream, async (c) => {
    // Not cached by a proxy: the URL may carry the token.
    c.header('cache-control', 'no-store');
    return serveInboxStream(c, db, streams, ...who(c)) as never;
  });

  const getPreferences = createRoute({
    method: 'get',
    path: '/preferences',
    summary: 'My preferences',
    security: security.recipient,
    responses: { 200: json(PreferencesView, 'The preferences'), ...meProblems() },
  });
  app.openapi(getPreferences, async (c) => c.json(presentPrefs((await getRecipient(deps, ...who(c))).preferences), 200));

  const putPreferences = createRoute({
    method: 'put',
    path: '/preferences',
    summary: 'Set my preferences and quiet hours',
    description: 'Absent means allowed; `quietHours: null` clears them.',
    security: security.recipient,
    request: { body: jsonBody(PreferencesBody) },
    responses: { 200: json(PreferencesView, 'The stored preferences'), ...meProblems() },
  });
  app.openapi(putPreferences, async (c) => c.json(presentPrefs(await setRecipientPreferences(deps, ...who(c), c.req.valid('json'))), 200));

  const DeviceParam = z.object({ deviceId: DeviceId });
  const putOwnDevice = createRoute({
    method: 'put',
    path: '/devices/{deviceId}',
    summary: 'Register or replace one of my push devices',
    security: security.recipient,
    request: { params: DeviceParam, body: jsonBody(DeviceBody) },
    responses: { 200: json(DeviceView, 'The stored device'), ...meProblems() },
  });
  app.openapi(putOwnDevice, async (c) => c.json(await putDevice(deps, ...who(c), c.req.valid('param').deviceId, c.req.valid('json')), 200));

  const deleteOwnDevice = createRoute({
    method: 'delete',
    path: '/devices/{deviceId}',
    summary: 'Remove one of my push devices',
    security: security.recipient,
    request: { params: DeviceParam },
    responses: { 204: { description: 'Removed' }, ...meProblems() },
  });
  app.openapi(deleteOwnDevice, async (c) => {
    await deleteDevice(deps, ...who(c), c.req.valid('param').deviceId);
    return c.body(null, 204);
  });

  return app;
}

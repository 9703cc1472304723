import { and, eq, sql } from 'drizzle-orm';
import { Hono } from 'hono';
import { z } from 'zod';
import { toRecipient, upsertRecipients } from '../../usecases/recipients.js';
import { recipients } from '../../db/schema.js';
import type { Preferences } from '../../domain/types.js';
import type { AppDeps, Env } from '../deps.js';
import { notFound } from '../problem.js';
import { BulkRecipientsBody, PreferencesBody, RecipientBody, RecipientId } from '../../usecases/schemas.js';
import { validate } from '../validate.js';
import { webhookUrlGuard } from '../webhook-url.js';

const Param = z.object({ recipientId: RecipientId });

function present(row: typeof recipients.$inferSelect) {
  return { ...toRecipient(row), createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString() };
}

export function recipientRoutes({ db, webhookAllowedHosts }: AppDeps) {
  const app = new Hono<Env>();
  const checkWebhookUrl = webhookUrlGuard(webhookAllowedHosts);

  const find = async (tenantId: string, id: string) => {
    const [row] = await db
      .select()
      .from(recipients)
      .where(and(eq(recipients.tenantId, tenantId), eq(recipients.id, id)));
    if (!row) throw notFound('Recipient');
    return row;
  };

  // Before the `/:recipientId` routes, so that `bulk` is never read as a recipient id.
  app.post('/bulk', validate('json', BulkRecipientsBody), async (c) => {
    const list = c.req.valid('json').recipients;
    checkWebhookUrl(...list.map((r, i): [string, string | null | undefined] => [`recipients.${i}.webhookUrl`, r.webhookUrl]));
    const rows = await upsertRecipients(db, c.get('tenantId'), list);
    return c.json({ upserted: rows.length });
  });

  app.put('/:recipientId', validate('param', Param), validate('json', RecipientBody), async (c) => {
    const body = c.req.valid('json');
    checkWebhookUrl(['webhookUrl', body.webhookUrl]);
    const [row] = await upsertRecipients(db, c.get('tenantId'), [{ ...body, id: c.req.valid('param').recipientId }]);
    return c.json(present(row));
  });

  app.get('/:recipientId', validate('param', Param), async (c) => {
    return c.json(present(await find(c.get('tenantId'), c.req.valid('param').recipientId)));
  });

  app.put('/:recipientId/preferences', validate('param', Param), validate('json', PreferencesBody), async (c) => {
    const tenantId = c.get('tenantId');
    const { recipientId } = c.req.valid('param');
    const body = c.req.valid('json');
    const prefs: Preferences = {
      ...(body.channels ? { channels: body.channels } : {}),
      ...(body.categories ? { categories: body.categories } : {}),
      ...(body.quietHours ? { quietHours: body.quietHours } : {}),
    };
    const updated = await db
      .update(recipients)
      .set({ preferences: prefs, updatedAt: sql`now()` })
      .where(and(eq(recipients.tenantId, tenantId), eq(recipients.id, recipientId)))
      .returning({ preferences: recipients.preferences });
    if (updated.length === 0) throw notFound('Recipient');
    return c.json(presentPrefs(updated[0].preferences));
  });

  app.get('/:recipientId/preferences', validate('param', Param), async (c) => {
    const row = await find(c.get('tenantId'), c.req.valid('param').recipientId);
    return c.json(presentPrefs(row.preferences));
  });

  return app;
}

function presentPrefs(p: Preferences) {
  return { channels: p.channels ?? {}, categories: p.categories ?? {}, quietHours: p.quietHours ?? null };
}

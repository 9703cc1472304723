import { and, eq, sql } from 'drizzle-orm';
import { Hono } from 'hono';
import { z } from 'zod';
import { toRecipient } from '../../usecases/recipients.js';
import { recipients } from '../../db/schema.js';
import type { Preferences } from '../../domain/types.js';
import type { AppDeps, Env } from '../deps.js';
import { notFound } from '../problem.js';
import { PreferencesBody, RecipientBody, RecipientId } from '../schemas.js';
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

  app.put('/:recipientId', validate('param', Param), validate('json', RecipientBody), async (c) => {
    const tenantId = c.get('tenantId');
    const { recipientId } = c.req.valid('param');
    const b = c.req.valid('json');
    checkWebhookUrl(b.webhookUrl, 'webhookUrl');
    const values = {
      email: b.email ?? null,
      phone: b.phone ?? null,
      slack: b.slack ?? null,
      webhookUrl: b.webhookUrl ?? null,
      pagerRoutingKey: b.pagerRoutingKey ?? null,
      locale: b.locale ?? 'en',
      timezone: b.timezone ?? 'UTC',
      name: b.name ?? null,
    };
    const [row] = await db
      .insert(recipients)
      .values({ tenantId, id: recipientId, ...values })
      .onConflictDoUpdate({ target: [recipients.tenantId, recipients.id], set: { ...values, updatedAt: sql`now()` } })
      .returning();
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

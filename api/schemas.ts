// zod schemas of the request bodies, shared by the routes (and, later, the OpenAPI document).
import { z } from 'zod';
import { HHMM, isValidTimeZone } from '../domain/quiet-hours.js';
import { CHANNELS, PRIORITIES } from '../domain/types.js';

export const RecipientId = z
  .string()
  .regex(/^[A-Za-z0-9._:@-]{1,128}$/, 'must be 1–128 of A-Za-z0-9._:@-');

export const TimeZone = z.string().max(64).refine(isValidTimeZone, 'must be an IANA timezone');

export const Locale = z
  .string()
  .max(35)
  .refine((v) => {
    try {
      return Intl.getCanonicalLocales(v).length === 1;
    } catch {
      return false;
    }
  }, 'must be a BCP 47 language tag');

export const Channel = z.enum(CHANNELS);
export const Priority = z.enum(PRIORITIES);

export const RecipientBody = z
  .object({
    email: z.email().max(320).nullish(),
    phone: z
      .string()
      .regex(/^\+[1-9]\d{6,14}$/, 'must be E.164, e.g. +14155550100')
      .nullish(),
    slack: z.string().min(1).max(200).nullish(),
    webhookUrl: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      .nullish(),
    pagerRoutingKey: z.string().min(1).max(200).nullish(),
    locale: Locale.optional(),
    timezone: TimeZone.optional(),
    name: z.string().max(200).nullish(),
  })
  .strict();

const ChannelToggles = z.partialRecord(Channel, z.boolean());

export const PreferencesBody = z
  .object({
    channels: ChannelToggles.optional(),
    categories: z
      .record(
        z.string().min(1).max(100),
        z.object({ enabled: z.boolean().optional(), channels: ChannelToggles.optional() }).strict(),
      )
      .optional(),
    quietHours: z
      .object({
        start: z.string().regex(HHMM, 'must be HH:MM'),
        end: z.string().regex(HHMM, 'must be HH:MM'),
        timezone: TimeZone.optional(),
      })
      .strict()
      .nullable()
      .optional(),
  })
  .strict();

const Text = z.string().max(100_000);
export const ChannelContentBody = z
  .object({
    email: z.object({ subject: Text.min(1), html: Text.optional(), text: Text.optional() }).strict().optional(),
    sms: z.object({ text: Text.min(1) }).strict().optional(),
    slack: z.object({ text: Text.min(1) }).strict().optional(),
    inapp: z.object({ title: Text, body: Text }).strict().optional(),
    webhook: z.record(z.string(), z.unknown()).optional(),
    pager: z.object({ summary: Text.min(1) }).strict().optional(),
  })
  .strict();

export const TemplateKey = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'must be 1–128 of A-Za-z0-9._-');

export const TemplateBody = z.object({
  defaultLocale: Locale.default('en'),
  content: z.record(Locale, ChannelContentBody).refine((c) => Object.keys(c).length > 0, 'must have at least one locale'),
});

export const NotificationBody = z
  .object({
    recipient: RecipientId,
    template: TemplateKey,
    data: z.record(z.string(), z.unknown()).default({}),
    channels: z.array(Channel).min(1).max(CHANNELS.length).refine((a) => new Set(a).size === a.length, 'must not repeat a channel').optional(),
    strategy: z.enum(['all', 'first-success']).default('all'),
    category: z.string().min(1).max(100).optional(),
    priority: Priority.default('normal'),
    sendAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

export const Pagination = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(500).optional(),
});

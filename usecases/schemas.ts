// zod schemas of the request bodies and their limits: the routes validate with them (and publish
// them in /openapi.json), and the use-cases that schedules and broadcasts run take their output.
import { z } from 'zod';
import { HHMM, isValidTimeZone } from '../domain/quiet-hours.js';
import { MAX_DIGEST_ITEMS } from '../domain/digest.js';
import { cronTooFrequent, MIN_SCHEDULE_INTERVAL_SECONDS } from '../domain/schedules.js';
import { jsonDepth } from '../domain/text.js';
import { MAX_CEL_LENGTH } from '../domain/cel.js';
import { CHANNELS, PRIORITIES, type EscalationStep } from '../domain/types.js';
import { SUPPRESSIBLE_CHANNELS } from '../domain/suppressions.js';

/** The bounds a request is held to, each named in the 400 that enforces it (README: Limits). */
export const LIMITS = {
  /** `data` (and other free-form JSON objects) as JSON, in bytes. */
  dataBytes: 64 * 1024,
  /** `data` nesting: `{}` is one level. */
  dataDepth: 32,
  /** Keys of any free-form object or map. */
  recordEntries: 1000,
  /** `sendAt` may lie this far in the past (a clock a little behind) … */
  sendAtPastMs: 24 * 3600_000,
  /** … and this far ahead. */
  sendAtFutureMs: 366 * 24 * 3600_000,
} as const;

/**
 * The largest value a PostgreSQL `integer` (int4) column holds: every request number stored in
 * or compared with one is bounded by it (api/problem.ts dataException is the net below).
 */
export const INT4_MAX = 2_147_483_647;

/** A template's version number (column template_versions.version, int4), in bodies as in paths. */
export const TemplateVersionNumber = z.number().int().min(1).max(INT4_MAX);

/** Ids Tocsin made (`ntf_…`, `bc_…`, `inc_…`, `ten_…`), in paths as in bodies. */
export const ResourceId = z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'must be 1–64 of A-Za-z0-9._:-');

/** A map with at most `max` entries. */
const boundedRecord = <K extends z.core.$ZodRecordKey, V extends z.ZodType>(key: K, value: V, max: number = LIMITS.recordEntries) =>
  z
    .record(key, value)
    .refine((r) => Object.keys(r).length <= max, `must have at most ${max} entries`)
    .meta({ maxProperties: max, propertyNames: keySchema(key) });

/** A record's key constraints, for the document (zod publishes only the values'). */
function keySchema(key: z.core.$ZodRecordKey): Record<string, unknown> {
  const { $schema: _drop, ...schema } = z.toJSONSchema(key as z.ZodType, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return schema;
}

/** What JSON Schema can say of the checks zod runs as refinements (the document shows these too). */
const EMAIL_PATTERN = (z.toJSONSchema(z.email()) as { pattern: string }).pattern;

/**
 * Free-form JSON an object may carry (`data`, `details`, webhook content): bounded in size and
 * depth, since it travels in Temporal payloads and PostgreSQL jsonb.
 */
export const JsonObject = z
  .record(z.string().max(1000), z.unknown())
  .superRefine((value, ctx) => {
  const depth = jsonDepth(value);
  if (depth > LIMITS.dataDepth) ctx.addIssue({ code: 'custom', message: `must not nest deeper than ${LIMITS.dataDepth} levels (it nests ${depth})` });
  else {
    const bytes = Buffer.byteLength(JSON.stringify(value));
    if (bytes > LIMITS.dataBytes) ctx.addIssue({ code: 'custom', message: `must be at most ${LIMITS.dataBytes} bytes (64 KiB) as JSON (it is ${bytes})` });
  }
  })
  .meta({ propertyNames: { maxLength: 1000 }, description: `Free-form JSON: at most ${LIMITS.dataBytes / 1024} KiB as JSON and ${LIMITS.dataDepth} levels deep` });

export const RecipientId = z
  .string()
  .regex(/^[A-Za-z0-9._:@-]{1,128}$/, 'must be 1–128 of A-Za-z0-9._:@-');

/**
 * An IANA time zone the runtime knows. The document gives the names' shape, not the list: that
 * comes with the runtime's ICU version, and the generated client must not change with it.
 */
const TimeZone = z
  .string()
  .max(64)
  .refine(isValidTimeZone, 'must be an IANA timezone')
  .meta({ id: 'TimeZone', pattern: '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$', description: 'An IANA time zone name', examples: ['UTC', 'Europe/Berlin', 'America/New_York'] });

/**
 * BCP 47 language tags: a language, an optional script, an optional region and optional private-use
 * subtags (en, fr-CA, zh-Hant-TW, es-419, en-x-acme). A pattern, so that the document states it.
 */
export const Locale = z
  .string()
  .max(35)
  .regex(/^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?(-x(-[A-Za-z0-9]{1,8})+)?$/, 'must be a BCP 47 language tag: language[-Script][-REGION], e.g. en, fr-CA, zh-Hant-TW');

export const Channel = z.enum(CHANNELS);
export const Priority = z.enum(PRIORITIES);

/** An http(s) URL. */
const WebUrl = z.url({ protocol: /^https?$/ }).max(2048).meta({ pattern: '^https?://' });

/** A Telegram chat: its id (negative for groups) or a public channel's @name. */
const TelegramChatId = z.string().regex(/^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$/, 'must be a chat id (digits, negative for groups) or @channelname');

/** A phone number in E.164 form. */
const E164 = z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be E.164, e.g. +14155550100');

/** Recipient attributes (segments read them as `recipient.attributes`): small, flat enough to evaluate fast. */
export const ATTRIBUTE_LIMITS = { bytes: 8 * 1024, keys: 50, depth: 4 } as const;
const RecipientAttributes = z
  .record(z.string().min(1).max(100), z.unknown())
  .superRefine((value, ctx) => {
    const keys = Object.keys(value).length;
    if (keys > ATTRIBUTE_LIMITS.keys) return void ctx.addIssue({ code: 'custom', message: `must have at most ${ATTRIBUTE_LIMITS.keys} keys (it has ${keys})` });
    const depth = jsonDepth(value);
    if (depth > ATTRIBUTE_LIMITS.depth) return void ctx.addIssue({ code: 'custom', message: `must not nest deeper than ${ATTRIBUTE_LIMITS.depth} levels (it nests ${depth})` });
    const bytes = Buffer.byteLength(JSON.stringify(value));
    if (bytes > ATTRIBUTE_LIMITS.bytes) ctx.addIssue({ code: 'custom', message: `must be at most ${ATTRIBUTE_LIMITS.bytes} bytes (8 KiB) as JSON (it is ${bytes})` });
  })
  .meta({ maxProperties: ATTRIBUTE_LIMITS.keys, propertyNames: { minLength: 1, maxLength: 100 }, description: 'Free attributes for segments: at most 50 keys, 8 KiB as JSON, 4 levels deep' });

export const RecipientBody = z
  .object({
    email: z.email().max(320).meta({ pattern: EMAIL_PATTERN }).nullish(),
    phone: E164.nullish(),
    slack: z.string().min(1).max(200).nullish(),
    webhookUrl: WebUrl.nullish(),
    pagerRoutingKey: z.string().min(1).max(200).nullish(),
    whatsapp: E164.nullish(),
    telegramChatId: TelegramChatId.nullish(),
    locale: Locale.optional(),
    timezone: TimeZone.optional(),
    name: z.string().max(200).nullish(),
    attributes: RecipientAttributes.optional(),
  })
  .strict();

/** Entries of one `POST /v1/recipients/bulk`: one multi-row statement, well under PostgreSQL's parameter limit. */
const MAX_BULK_RECIPIENTS = 1000;

/**
 * `POST /v1/recipients/bulk`: each entry is a PUT body with its `id`. Errors name the entry's
 * index (`recipients.3.phone`); a repeated id names the later entry, since one statement
 * cannot upsert a row twice.
 */
export const BulkRecipientsBody = z
  .object({
    recipients: z
      .array(RecipientBody.extend({ id: RecipientId }))
      .min(1, 'must have at least one entry')
      .max(MAX_BULK_RECIPIENTS, `must have at most ${MAX_BULK_RECIPIENTS.toLocaleString('en')} entries`)
      .superRefine((list, ctx) => {
        const seen = new Map<string, number>();
        list.forEach((r, i) => {
          const first = seen.get(r.id);
          if (first === undefined) seen.set(r.id, i);
          else ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `repeats the id of recipients.${first}` });
        });
      }),
  })
  .strict();

const ChannelToggles = z.partialRecord(Channel, z.boolean()).meta({ additionalProperties: false });

export const PreferencesBody = z
  .object({
    channels: ChannelToggles.optional(),
    categories: boundedRecord(
      z.string().min(1).max(100),
      z.object({ enabled: z.boolean().optional(), channels: ChannelToggles.optional() }).strict(),
    ).optional(),
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
const ChannelContentBody = z
  .object({
    email: z.object({ subject: Text.min(1), html: Text.optional(), text: Text.optional() }).strict().optional(),
    sms: z.object({ text: Text.min(1) }).strict().optional(),
    slack: z.object({ text: Text.min(1) }).strict().optional(),
    // `url`: where the item leads when opened (a template too; only an http(s) result is kept).
    inapp: z.object({ title: Text, body: Text, url: z.string().max(2048).optional() }).strict().optional(),
    webhook: JsonObject.optional(),
    pager: z.object({ summary: Text.min(1) }).strict().optional(),
    whatsapp: z.object({ text: Text.min(1) }).strict().optional(),
    telegram: z.object({ text: Text.min(1) }).strict().optional(),
    push: z
      .object({
        title: Text.min(1).max(1000),
        body: Text.max(4000),
        url: z.string().max(2048).optional(),
        data: boundedRecord(z.string().min(1).max(100), z.string().max(1000)).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** The form of every key a tenant names (templates, digests, throttles, schedules, escalation policies). */
const Key = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'must be 1–128 of A-Za-z0-9._-');
export const TemplateKey = Key;
export const PolicyKey = Key;

export const TemplateBody = z.object({
  defaultLocale: Locale.default('en'),
  content: boundedRecord(Locale, ChannelContentBody, 100)
    .refine((c) => Object.keys(c).length > 0, 'must have at least one locale')
    .meta({ minProperties: 1 }),
});

/** Joins notifications for one recipient and key into one, sent when the window closes. */
export const DigestSpec = z
  .object({
    key: Key,
    windowSeconds: z.number().int().min(1).max(7 * 86400),
    maxItems: z.number().int().min(1).max(MAX_DIGEST_ITEMS).optional(),
  })
  .strict();
/** At most `limit` notifications per recipient and key in any `windowSeconds`. */
export const ThrottleSpec = z
  .object({
    key: Key,
    limit: z.number().int().min(1).max(100_000),
    windowSeconds: z.number().int().min(1).max(31 * 86400),
  })
  .strict();

const ChannelList = z
  .array(Channel)
  .min(1)
  .max(CHANNELS.length)
  .refine((a) => new Set(a).size === a.length, 'must not repeat a channel')
  .meta({ uniqueItems: true });

export const NotificationBody = z
  .object({
    recipient: RecipientId,
    template: TemplateKey,
    data: JsonObject.default({}),
    channels: ChannelList.optional(),
    strategy: z.enum(['all', 'first-success']).default('all'),
    category: z.string().min(1).max(100).optional(),
    priority: Priority.default('normal'),
    sendAt: z.iso.datetime({ offset: true }).optional(),
    digest: DigestSpec.optional(),
    throttle: ThrottleSpec.optional(),
  })
  .strict()
  // A digest is sent when its window closes (usecases/accept.ts refuses both).
  .meta({ not: { required: ['digest', 'sendAt'] } });
export type NotificationRequest = z.infer<typeof NotificationBody>;

/** A CEL expression (rules' `if` and `segment`, broadcasts' `segment`): compiled and checked where it is used. */
export const CelExpression = z.string().min(1).max(MAX_CEL_LENGTH);
export const TopicKey = Key;
export const RuleKey = Key;
/** An event's name (`order.shipped`). */
export const EventName = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must be 1–128 of A-Za-z0-9._:-');

export const TopicBody = z.object({ name: z.string().max(200).nullish() }).strict();
export const MAX_TOPIC_SUBSCRIBE = 1000;
export const SubscribersBody = z
  .object({ recipients: z.array(RecipientId).min(1).max(MAX_TOPIC_SUBSCRIBE, `must have at most ${MAX_TOPIC_SUBSCRIBE.toLocaleString('en')} entries`) })
  .strict();

export const RuleBody = z
  .object({
    event: EventName,
    if: CelExpression.optional(),
    recipients: z.union([
      z.object({ from: z.literal('event') }).strict(),
      z.object({ topic: Key }).strict(),
      z.object({ segment: CelExpression }).strict(),
    ]),
    template: TemplateKey.optional(),
    flow: Key.optional(),
    channels: ChannelList.optional(),
    category: z.string().min(1).max(100).optional(),
    priority: Priority.default('normal'),
    strategy: z.enum(['all', 'first-success']).default('all'),
    digest: DigestSpec.optional(),
    throttle: ThrottleSpec.optional(),
    enabled: z.boolean().default(true),
  })
  .strict()
  .superRefine((r, ctx) => {
    if ((r.template === undefined) === (r.flow === undefined)) ctx.addIssue({ code: 'custom', path: ['template'], message: 'give either template or flow' });
  })
  .meta({ oneOf: [{ required: ['template'] }, { required: ['flow'] }] });
export type RuleRequest = z.infer<typeof RuleBody>;

export const MAX_EVENT_RECIPIENTS = 1000;
export const EventBody = z
  .object({
    name: EventName,
    actor: RecipientId.optional(),
    recipients: z.array(RecipientId).min(1).max(MAX_EVENT_RECIPIENTS, `must have at most ${MAX_EVENT_RECIPIENTS.toLocaleString('en')} entries`).optional(),
    data: JsonObject.default({}),
  })
  .strict();
export type EventRequest = z.infer<typeof EventBody>;

export const MAX_BROADCAST_RECIPIENTS = 100_000;
export const BroadcastBody = z
  .object({
    recipients: z.array(RecipientId).min(1).max(MAX_BROADCAST_RECIPIENTS).optional(),
    all: z.literal(true).optional(),
    /** A topic's subscribers, pinned at acceptance. */
    topic: Key.optional(),
    /** The recipients a CEL condition over `recipient` holds for, evaluated in pages at acceptance. */
    segment: CelExpression.optional(),
    template: TemplateKey,
    data: JsonObject.default({}),
    channels: ChannelList.optional(),
    category: z.string().min(1).max(100).optional(),
    priority: Priority.default('normal'),
  })
  .strict()
  .superRefine((b, ctx) => {
    if ([b.recipients, b.all, b.topic, b.segment].filter((v) => v !== undefined).length !== 1)
      ctx.addIssue({ code: 'custom', path: ['recipients'], message: 'give one of recipients, "all": true, topic or segment' });
  })
  .meta({ oneOf: [{ required: ['recipients'] }, { required: ['all'] }, { required: ['topic'] }, { required: ['segment'] }] });
export type BroadcastRequest = z.infer<typeof BroadcastBody>;

export const ScheduleId = Key;
export const ScheduleBody = z
  .object({
    cron: z.string().min(1).max(200).optional(),
    everySeconds: z
      .number()
      .int()
      .min(MIN_SCHEDULE_INTERVAL_SECONDS, `must be at least ${MIN_SCHEDULE_INTERVAL_SECONDS}: a schedule fires at most once a minute`)
      .max(366 * 86400)
      .optional(),
    timezone: TimeZone.default('UTC'),
    notification: NotificationBody.optional(),
    broadcast: BroadcastBody.optional(),
    paused: z.boolean().default(false),
    note: z.string().max(500).optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    if ((b.cron === undefined) === (b.everySeconds === undefined))
      ctx.addIssue({ code: 'custom', path: ['cron'], message: 'give either cron or everySeconds' });
    const often = b.cron === undefined ? null : cronTooFrequent(b.cron);
    if (often) ctx.addIssue({ code: 'custom', path: ['cron'], message: often });
    if (Boolean(b.notification) === Boolean(b.broadcast))
      ctx.addIssue({ code: 'custom', path: ['notification'], message: 'give either notification or broadcast' });
    if (b.notification?.digest) ctx.addIssue({ code: 'custom', path: ['notification', 'digest'], message: 'a scheduled notification cannot be digested' });
    if (b.notification?.sendAt) ctx.addIssue({ code: 'custom', path: ['notification', 'sendAt'], message: 'the schedule decides when it is sent' });
  })
  .meta({
    allOf: [
      { oneOf: [{ required: ['cron'] }, { required: ['everySeconds'] }] },
      { oneOf: [{ required: ['notification'] }, { required: ['broadcast'] }] },
      // The schedule decides when; a digest would join runs together.
      { properties: { notification: { not: { anyOf: [{ required: ['digest'] }, { required: ['sendAt'] }] } } } },
    ],
  });
export type ScheduleRequest = z.infer<typeof ScheduleBody>;

export const Pagination = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(500).regex(/^[A-Za-z0-9_-]+$/, 'must be a cursor from a previous page').optional(),
});

// Escalation policies (api/routes/escalation-policies.ts).

/**
 * An incident notifies at most steps × (repeat + 1) times per escalation pass; these bounds keep
 * one pass, and with it every run of the incident workflow, small.
 */
export const POLICY_LIMITS = { steps: 20, repeat: 10, notifications: 100 } as const;

/** Up to a week per step: longer than that is not an escalation. */
const AckTimeout = z.number().int().min(1).max(7 * 24 * 3600);
const policyStep = <C extends EscalationStep['channel'], T extends z.ZodType<string>>(channel: C, target: T) =>
  z.object({ channel: z.literal(channel), target, ackTimeoutSeconds: AckTimeout }).strict();

export const PolicyBody = z
  .object({
    steps: z
      .array(
        z.discriminatedUnion('channel', [
          policyStep('slack', z.string().min(1).max(200)),
          policyStep('pager', z.string().min(1).max(255)),
          policyStep('sms', E164),
          policyStep('email', z.email().max(320).meta({ pattern: EMAIL_PATTERN })),
          policyStep('webhook', WebUrl),
          policyStep('whatsapp', E164),
          policyStep('telegram', TelegramChatId),
          policyStep('push', RecipientId),
        ]),
      )
      .min(1, 'must have at least 1 step')
      .max(POLICY_LIMITS.steps, `must have at most ${POLICY_LIMITS.steps} steps`),
    repeat: z
      .number()
      .int()
      .min(0)
      .max(POLICY_LIMITS.repeat, `must be at most ${POLICY_LIMITS.repeat} (extra passes over the steps)`)
      .default(0),
  })
  .strict()
  .superRefine((p, ctx) => {
    const total = p.steps.length * (p.repeat + 1);
    if (total > POLICY_LIMITS.notifications) {
      ctx.addIssue({
        code: 'custom',
        path: ['repeat'],
        message: `steps × (repeat + 1) must be at most ${POLICY_LIMITS.notifications} notifications per escalation; ${p.steps.length} steps × ${p.repeat + 1} passes = ${total}`,
      });
    }
  });

export const IntegrationId = Key;

/** Which providers an integration may name for each channel (README: "Integrations"). */
export const INTEGRATION_PROVIDERS = {
  email: ['resend', 'smtp'],
  sms: ['twilio', 'vonage'],
  whatsapp: ['twilio'],
  telegram: ['telegram'],
  slack: ['slack'],
  // Push integrations replace the platform's provider of their name for the tenant's devices.
  push: ['fcm', 'apns', 'webpush'],
} as const;
export type IntegrationChannel = keyof typeof INTEGRATION_PROVIDERS;
export type IntegrationProvider = (typeof INTEGRATION_PROVIDERS)[IntegrationChannel][number];

const Secret = z.string().min(1).max(4096);
/** Each provider's credentials: exactly these fields. */
const CREDENTIALS = {
  resend: z.object({ apiKey: Secret }).strict(),
  smtp: z.object({ url: z.string().regex(/^smtps?:\/\/[^/\s]+\/?$/, 'must be smtp://user:pass@host:port or smtps://…').max(2048) }).strict(),
  twilio: z.object({ accountSid: z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'must be AC followed by 32 hex digits'), authToken: Secret, from: z.string().min(1).max(100).optional() }).strict(),
  vonage: z.object({ apiKey: Secret, apiSecret: Secret, from: z.string().min(1).max(100).optional() }).strict(),
  telegram: z.object({ botToken: z.string().regex(/^\d+:[A-Za-z0-9_-]+$/, 'must be a bot token as @BotFather gives it (123456:ABC…)') }).strict(),
  slack: z.object({ botToken: Secret, signingSecret: Secret.optional() }).strict(),
  fcm: z
    .object({
      serviceAccount: z
        .string()
        .max(16_384)
        .refine((v) => {
          try {
            const a = JSON.parse(v) as Record<string, unknown>;
            return typeof a.client_email === 'string' && typeof a.private_key === 'string' && typeof a.project_id === 'string';
          } catch {
            return false;
          }
        }, 'must be the service account JSON (with project_id, client_email and private_key)'),
    })
    .strict(),
  apns: z
    .object({
      key: z.string().max(4096).regex(/-----BEGIN PRIVATE KEY-----/, 'must be the p8 key (PEM)'),
      keyId: z.string().regex(/^[A-Z0-9]{10}$/, 'must be the 10-character key id'),
      teamId: z.string().regex(/^[A-Z0-9]{10}$/, 'must be the 10-character team id'),
      topic: z.string().min(1).max(255),
    })
    .strict(),
  webpush: z.object({ publicKey: Secret, privateKey: Secret, subject: z.string().regex(/^(mailto:|https:\/\/)/, 'must be a mailto: or https: URL').max(320) }).strict(),
} satisfies Record<IntegrationProvider, z.ZodType>;

export const IntegrationBody = z
  .object({
    channel: z.enum(Object.keys(INTEGRATION_PROVIDERS) as [IntegrationChannel, ...IntegrationChannel[]]),
    provider: z.enum(Object.keys(CREDENTIALS) as [IntegrationProvider, ...IntegrationProvider[]]),
    credentials: z.record(z.string(), z.string()),
    settings: z
      .object({
        from: z.string().min(1).max(320).optional(),
        baseUrl: WebUrl.optional(),
        ratePerSecond: z.number().positive().max(10_000).optional(),
        breakerFailures: z.number().int().min(1).max(1000).optional(),
        breakerCooldownSeconds: z.number().int().min(1).max(86_400).optional(),
      })
      .strict()
      .default({}),
    priority: z.number().int().min(1).max(100).default(1),
    enabled: z.boolean().default(true),
  })
  .strict()
  .superRefine((b, ctx) => {
    const allowed: readonly string[] = INTEGRATION_PROVIDERS[b.channel];
    if (!allowed.includes(b.provider)) {
      ctx.addIssue({ code: 'custom', path: ['provider'], message: `a ${b.channel} integration's provider is one of ${allowed.join(', ')}` });
      return;
    }
    const parsed = CREDENTIALS[b.provider].safeParse(b.credentials);
    if (!parsed.success) for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', path: ['credentials', ...issue.path.map(String)], message: issue.message });
  });
export type IntegrationRequest = z.infer<typeof IntegrationBody>;

export const DeviceId = Key;
/** `PUT /v1/recipients/{rid}/devices/{deviceId}`: an FCM or APNs token, or a Web Push subscription. */
export const DeviceBody = z
  .object({
    provider: z.enum(['fcm', 'apns', 'webpush']),
    token: z.string().min(1).max(4096).optional(),
    subscription: z
      .object({
        endpoint: z.url({ protocol: /^https?$/ }).max(2048),
        keys: z.object({ p256dh: z.string().regex(/^[A-Za-z0-9_-]{80,100}={0,2}$/, 'must be the subscription’s P-256 public key, base64url'), auth: z.string().regex(/^[A-Za-z0-9_-]{16,24}={0,2}$/, 'must be the subscription’s 16-byte auth secret, base64url') }).strict(),
      })
      .strict()
      .optional(),
    platform: z.string().min(1).max(50).optional(),
  })
  .strict()
  .superRefine((d, ctx) => {
    if (d.provider === 'webpush' && !d.subscription) ctx.addIssue({ code: 'custom', path: ['subscription'], message: 'a webpush device needs its subscription' });
    if (d.provider === 'webpush' && d.token) ctx.addIssue({ code: 'custom', path: ['token'], message: 'a webpush device has a subscription, not a token' });
    if (d.provider !== 'webpush' && !d.token) ctx.addIssue({ code: 'custom', path: ['token'], message: `an ${d.provider} device needs its token` });
    if (d.provider !== 'webpush' && d.subscription) ctx.addIssue({ code: 'custom', path: ['subscription'], message: `an ${d.provider} device has a token, not a subscription` });
  });
export type DeviceRequest = z.infer<typeof DeviceBody>;

// Suppressions (api/routes/suppressions.ts).

export const SuppressibleChannel = z.enum(SUPPRESSIBLE_CHANNELS);
/** Each suppressible channel's address, as recipients carry it. */
export const SUPPRESSION_ADDRESS: Record<(typeof SUPPRESSIBLE_CHANNELS)[number], z.ZodType<string>> = {
  email: z.email().max(320),
  sms: E164,
  whatsapp: E164,
  telegram: TelegramChatId,
};
/** `POST /v1/suppressions`: an address of one channel (an email, an E.164 number, a Telegram chat). */
export const SuppressionBody = z
  .object({
    channel: SuppressibleChannel,
    address: z.string().min(1).max(320).meta({ description: 'email: an email address; sms and whatsapp: an E.164 number; telegram: a chat id or @channel' }),
  })
  .strict()
  .superRefine((b, ctx) => {
    const parsed = SUPPRESSION_ADDRESS[b.channel].safeParse(b.address);
    if (!parsed.success) ctx.addIssue({ code: 'custom', path: ['address'], message: `must be a ${b.channel} address: ${parsed.error.issues[0]?.message ?? 'invalid'}` });
  });
export type SuppressionRequest = z.infer<typeof SuppressionBody>;

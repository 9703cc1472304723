// The pages a recipient reaches from a link, outside /v1 and without an API key: the hosted
// preference page (`GET|POST /preferences/{token}`) and one-click unsubscribe
// (`GET|POST /unsubscribe/{token}`, RFC 8058). The token in the path is the credential: it is
// verified before any body is read, and a client address that presents bad tokens is held to
// UNAUTH_RATE_PER_SECOND answers a second like any other unauthenticated client (api/auth.ts).
// A valid token is not limited per address: one mail provider posts many people's unsubscribes.
// Tokens never reach a log line (api/telemetry.ts shows these paths as `/{token}`).
import { createRoute, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { toRecipient } from '../../db/recipients.js';
import { RequestError } from '../../domain/errors.js';
import { unstorable } from '../../domain/text.js';
import { CHANNELS, type Channel, type Preferences } from '../../domain/types.js';
import {
  isUnsubscribed,
  preferencePage,
  savePreferencePage,
  unsubscribe,
  verifyPreferenceToken,
  verifyUnsubscribeToken,
} from '../../usecases/recipient-links.js';
import { MAX_RECIPIENT_TOKEN_LENGTH, type RecipientClaims, type RecipientTokenDeps } from '../../usecases/recipient-tokens.js';
import { PreferencesBody } from '../../usecases/schemas.js';
import type { unauthenticatedAnswers } from '../auth.js';
import { problems, router, security } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';
import { expiredPage, page, pageChannels, preferencePageHtml, unsubscribePageHtml } from '../recipient-pages.js';

type Answers = ReturnType<typeof unauthenticatedAnswers>;
type PageEnv<C> = { Variables: { claims: C; tenantId: string } };
type TenantLimit = MiddlewareHandler<Env>;

/** The longest token path segment read: a JWT of ours is a few hundred characters. */

const Token = z.object({ token: z.string().max(MAX_RECIPIENT_TOKEN_LENGTH).openapi({ description: 'The signed token of the link' }) });
const html = (description: string) => ({ description, content: { 'text/html': { schema: z.string() } } });
const form = <T extends z.ZodType>(schema: T, description: string) => ({
  required: true,
  description,
  content: { 'application/x-www-form-urlencoded': { schema }, 'multipart/form-data': { schema } },
});

/** Without TOCSIN_ENCRYPTION_KEYS no token secret opens, so no link is valid (the runtime always sets them). */
function tokenDeps(deps: AppDeps): RecipientTokenDeps {
  return { db: deps.db, encryptionKeys: deps.encryptionKeys ?? [], ...(deps.now ? { now: deps.now } : {}) };
}

/**
 * Verifies the path's token before anything reads the body. An address that has spent its
 * unauthenticated answers this second gets 429 without a lookup; a bad token is counted against
 * it and answered with the "link expired" page (401), or 429 past the limit. A valid token's
 * request counts against its tenant's rate (RATE_LIMIT_PER_SECOND), as an API request does.
 */
function tokenGuard<C extends RecipientClaims>(
  deps: AppDeps,
  answers: Answers,
  tenantLimit: TenantLimit,
  verify: (d: RecipientTokenDeps, token: string) => Promise<C | null>,
): MiddlewareHandler<PageEnv<C>> {
  return async (c, next) => {
    // An address that spent its answers this second gets no lookup, only the refusal below: a
    // page, or the 429 (its window may have rolled over between the two checks, so it is asked).
    const spent = await answers.spent(c);
    const token = c.req.param('token') ?? '';
    const claims = !spent && token.length <= MAX_RECIPIENT_TOKEN_LENGTH && deps.encryptionKeys?.length ? await verify(tokenDeps(deps), token) : null;
    if (!claims) {
      const refused = await answers.refuse(c);
      if (refused.status === 429) throw refused;
      const { 'www-authenticate': _challenge, ...headers } = refused.headers;
      return expiredPage(c, 401, headers);
    }
    c.set('claims', claims);
    c.set('tenantId', claims.tenantId);
    await tenantLimit(c as never, next);
  };
}

/** A recipient erased since the link was made: the "no longer leads anywhere" page. */
async function orGone(c: Parameters<MiddlewareHandler>[0], run: () => Promise<Response>): Promise<Response> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof RequestError && err.kind === 'missing') return expiredPage(c, 404);
    throw err;
  }
}

const FormFields = z.record(z.string(), z.union([z.string(), z.array(z.string())]));

const preferencesGet = createRoute({
  method: 'get',
  path: '/{token}',
  summary: 'The hosted preference page of a preference link (HTML)',
  description:
    'A page where the recipient turns channels and categories on or off and sets quiet hours, with no login. The link comes from `POST /v1/recipients/{recipientId}/preference-link`. An expired or forged link answers a page that says so (401).',
  security: security.none,
  request: { params: Token },
  responses: { 200: html('The preference page'), 401: html('The link expired or is not valid'), 404: html('The recipient no longer exists'), ...problems(429, 503) },
});
const preferencesPost = createRoute({
  method: 'post',
  path: '/{token}',
  summary: 'Saves the preference page’s form (HTML form post)',
  description:
    'The form the page shows: `channels` (the channels shown, comma-separated), `channel.<channel>=on` for each channel left on, `cat.<i>` (a category) with `cat.<i>.on` and `cat.<i>.ch.<channel>`, `quiet=on`, `quietStart`, `quietEnd` (HH:MM) and `quietTimezone`. Saved through the same use-case as the preferences API; the page is shown again with a "saved" notice, or with the reasons and a 400.',
  security: security.none,
  request: { params: Token, body: form(FormFields, 'The preference form') },
  responses: {
    200: html('Saved: the page again, with a notice'),
    400: html('Refused: the page again, naming what to correct'),
    401: html('The link expired or is not valid'),
    404: html('The recipient no longer exists'),
    ...problems(413, 415, 429, 503),
  },
});

const field = (f: Record<string, string | string[]>, name: string): string | undefined => {
  const v = f[name];
  return Array.isArray(v) ? v[v.length - 1] : v;
};

/** At most this many category rows are read from one form (the API's own bound on a preferences map). */
const MAX_FORM_CATEGORIES = 1000;

/**
 * The preferences a posted form says, on top of the stored ones: only what the form showed
 * changes (a channel or category another client set and the page did not show is kept). A
 * checked box removes the opt-out (absent means allowed); an unchecked one stores `false`.
 */
function preferencesFromForm(f: Record<string, string | string[]>, stored: Preferences) {
  const errors: string[] = [];
  // Text the database cannot hold (NUL, an unpaired surrogate) is the form's fault: named, not stored.
  for (const [name, value] of Object.entries(f)) {
    const why = [name, ...(Array.isArray(value) ? value : [value])].map(unstorable).find(Boolean);
    if (why) return { preferences: null, errors: [`A field ${why}`], quiet: { on: false, start: '', end: '', timezone: '' } };
  }
  const shown = (field(f, 'channels') ?? '').split(',').filter(Boolean);
  const unknown = shown.filter((ch) => !(CHANNELS as readonly string[]).includes(ch));
  if (unknown.length) errors.push(`Unknown channel: ${unknown.join(', ')}`);
  const channelsShown = shown.filter((ch): ch is Channel => (CHANNELS as readonly string[]).includes(ch));
  const on = (name: string) => field(f, name) === 'on';

  const channels: Partial<Record<Channel, boolean>> = { ...stored.channels };
  for (const ch of channelsShown) {
    if (on(`channel.${ch}`)) delete channels[ch];
    else channels[ch] = false;
  }
  const categories: NonNullable<Preferences['categories']> = { ...stored.categories };
  for (let i = 0; i < MAX_FORM_CATEGORIES; i++) {
    const name = field(f, `cat.${i}`);
    if (name === undefined) break;
    const entry = { ...categories[name], channels: { ...categories[name]?.channels } };
    if (on(`cat.${i}.on`)) delete entry.enabled;
    else entry.enabled = false;
    for (const ch of channelsShown) {
      if (on(`cat.${i}.ch.${ch}`)) delete entry.channels[ch];
      else entry.channels[ch] = false;
    }
    const { channels: entryChannels, ...rest } = entry;
    const kept = { ...rest, ...(Object.keys(entryChannels).length ? { channels: entryChannels } : {}) };
    if (Object.keys(kept).length) categories[name] = kept;
    else delete categories[name];
  }
  const quiet = { on: on('quiet'), start: field(f, 'quietStart') ?? '', end: field(f, 'quietEnd') ?? '', timezone: field(f, 'quietTimezone') ?? '' };
  const candidate = {
    channels,
    categories,
    quietHours: quiet.on ? { start: quiet.start, end: quiet.end, ...(quiet.timezone ? { timezone: quiet.timezone } : {}) } : null,
  };
  const parsed = PreferencesBody.safeParse(candidate);
  if (!parsed.success) errors.push(...parsed.error.issues.map((i) => `${describePath(i.path)} ${i.message}`));
  return { preferences: parsed.success && errors.length === 0 ? parsed.data : null, errors, quiet };
}

const PATH_NAMES: Record<string, string> = {
  'quietHours.start': 'Quiet hours “From”',
  'quietHours.end': 'Quiet hours “Until”',
  'quietHours.timezone': 'Quiet hours’ time zone',
};
function describePath(path: readonly PropertyKey[]): string {
  const p = path.map(String);
  if (PATH_NAMES[p.join('.')]) return PATH_NAMES[p.join('.')];
  if (p[0] === 'categories' && p.length > 1) return `Category “${p[1]}”`;
  return p.join('.') || 'The form';
}

export function preferencePageRoutes(deps: AppDeps, answers: Answers, tenantLimit: TenantLimit) {
  const app = router<PageEnv<RecipientClaims>>();
  app.use('/:token', tokenGuard(deps, answers, tenantLimit, verifyPreferenceToken));
  const action = (c: { req: { path: string } }) => c.req.path;

  app.openapi(preferencesGet, (c) =>
    orGone(c, async () => {
      const v = await preferencePage(tokenDeps(deps), c.get('claims'));
      const recipient = toRecipient(v.recipient);
      const body = preferencePageHtml({
        action: action(c),
        name: recipient.name,
        channels: pageChannels(recipient, v.preferences),
        categories: v.categories,
        preferences: v.preferences,
        timezone: recipient.timezone,
      });
      return page(c, 200, 'Notification preferences', body);
    }),
  ) as never;

  app.openapi(preferencesPost, (c) =>
    orGone(c, async () => {
      const d = tokenDeps(deps);
      const claims = c.get('claims');
      const before = await preferencePage(d, claims);
      const recipient = toRecipient(before.recipient);
      const posted = c.req.valid('form') as Record<string, string | string[]>;
      const { preferences, errors, quiet } = preferencesFromForm(posted, before.preferences);
      const view = { action: action(c), name: recipient.name, categories: before.categories, timezone: recipient.timezone };
      if (!preferences) {
        const body = preferencePageHtml({ ...view, channels: pageChannels(recipient, before.preferences), preferences: before.preferences, notice: { kind: 'error', messages: errors }, quiet });
        return page(c, 400, 'Notification preferences', body);
      }
      const stored = await savePreferencePage(d, claims, preferences);
      const body = preferencePageHtml({ ...view, channels: pageChannels(recipient, stored), preferences: stored, notice: { kind: 'saved' } });
      return page(c, 200, 'Notification preferences', body);
    }),
  ) as never;
  return app;
}

const unsubscribeGet = createRoute({
  method: 'get',
  path: '/{token}',
  summary: 'Asks to confirm an unsubscribe (HTML); changes nothing',
  description:
    'The `List-Unsubscribe` link of an email of a notification with a category. A GET changes nothing (mail scanners fetch links): the page confirms with a button, which POSTs the one-click form.',
  security: security.none,
  request: { params: Token },
  responses: { 200: html('The confirmation page'), 401: html('The link expired or is not valid'), 404: html('The recipient no longer exists'), ...problems(429, 503) },
});
const unsubscribePost = createRoute({
  method: 'post',
  path: '/{token}',
  summary: 'One-click unsubscribe (RFC 8058)',
  description:
    'The form body `List-Unsubscribe=One-Click`, as mail providers send it (no credentials, no cookies): the recipient is opted out of the link’s category by email at once (`categories.<category>.channels.email = false`) and a `recipient.unsubscribed` lifecycle event is recorded. Idempotent: a repeat answers 200 and records nothing.',
  security: security.none,
  request: { params: Token, body: form(z.object({ 'List-Unsubscribe': z.literal('One-Click') }), 'RFC 8058’s one-click form') },
  responses: {
    200: html('Unsubscribed (or already)'),
    401: html('The link expired or is not valid'),
    404: html('The recipient no longer exists'),
    ...problems(400, 413, 415, 429, 503),
  },
});

type UnsubscribeClaims = NonNullable<Awaited<ReturnType<typeof verifyUnsubscribeToken>>>;

export function unsubscribeRoutes(deps: AppDeps, answers: Answers, tenantLimit: TenantLimit) {
  const app = router<PageEnv<UnsubscribeClaims>>();
  app.use('/:token', tokenGuard(deps, answers, tenantLimit, verifyUnsubscribeToken));
  app.openapi(unsubscribeGet, (c) =>
    orGone(c, async () => {
      const claims = c.get('claims');
      const already = await isUnsubscribed(tokenDeps(deps), claims);
      const view = { action: c.req.path, category: claims.category, channel: claims.channel, ...(already ? { done: 'already' as const } : {}) };
      return page(c, 200, already ? 'Unsubscribed' : 'Unsubscribe', unsubscribePageHtml(view));
    }),
  ) as never;
  app.openapi(unsubscribePost, (c) =>
    orGone(c, async () => {
      const claims = c.get('claims');
      const done = await unsubscribe(tokenDeps(deps), claims);
      return page(c, 200, 'Unsubscribed', unsubscribePageHtml({ action: c.req.path, category: claims.category, channel: claims.channel, done }));
    }),
  ) as never;
  return app;
}

// The HTML of the pages a recipient opens from a link, with no login: the hosted preference page
// and the unsubscribe confirmation (api/routes/recipient-pages.ts serves them). Plain HTML forms
// that work with JavaScript off; no script at all. Every value is escaped; the one stylesheet is
// inline and allowed by its hash in the Content-Security-Policy.
import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { addressFor } from '../domain/preferences.js';
import { CHANNELS, type Channel, type Preferences, type Recipient } from '../domain/types.js';

/** Text into HTML, element content and quoted attribute values alike. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`=]/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

const STYLE = `
:root { color-scheme: light dark; font-family: system-ui, sans-serif; line-height: 1.45; }
body { margin: 0; padding: 2rem 1rem; }
main { max-width: 40rem; margin: 0 auto; }
h1 { font-size: 1.5rem; margin: 0 0 1rem; }
fieldset { border: 1px solid #8884; border-radius: .5rem; margin: 0 0 1.25rem; padding: .75rem 1rem 1rem; }
legend { font-weight: 600; padding: 0 .25rem; }
label { display: inline-flex; gap: .4rem; align-items: center; margin: .2rem 1rem .2rem 0; }
.category { padding: .5rem 0; border-top: 1px solid #8882; }
.category h3 { font-size: 1rem; margin: 0 0 .2rem; overflow-wrap: anywhere; }
.category .by { color: #888; font-size: .9rem; margin-right: .4rem; }
.notice { border-radius: .5rem; padding: .6rem .9rem; margin: 0 0 1rem; }
.saved { background: #1a7f3722; border: 1px solid #1a7f37; }
.error { background: #cf222e22; border: 1px solid #cf222e; }
.hint { color: #888; font-size: .9rem; }
button { font: inherit; padding: .5rem 1.2rem; border-radius: .4rem; border: 1px solid #0969da; background: #0969da; color: #fff; cursor: pointer; }
.row { display: flex; gap: 1rem; flex-wrap: wrap; align-items: end; }
.row label { flex-direction: column; align-items: start; }
`;

const styleHash = createHash('sha256').update(STYLE).digest('base64');
/** No script, the inline style by its hash, forms only to this origin, never in a frame. */
const CSP = `default-src 'none'; style-src 'sha256-${styleHash}'; img-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`;

/**
 * The headers of every recipient page: the link's token is in the URL, so no referrer leaves
 * with it and nothing is cached; no framing (clickjacking of the Save and Unsubscribe buttons).
 */
const PAGE_HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': CSP,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body><main>
${body}
</main></body>
</html>
`;
}

export function page(c: Context, status: ContentfulStatusCode, title: string, body: string, headers: Record<string, string> = {}): Response {
  return c.body(layout(title, body), status, { ...headers, ...PAGE_HEADERS });
}

/** The page for a link that is expired, forged or no longer leads anywhere. */
export function expiredPage(c: Context, status: 401 | 404, headers: Record<string, string> = {}): Response {
  const text =
    status === 401
      ? 'This link has expired or is not valid. Links in notifications work for a limited time: use the link in a newer message, or ask the sender for a new one.'
      : 'This link no longer leads anywhere: the person it was made for is not known here any more.';
  return page(c, status, 'Link expired', `<h1>Link expired</h1>\n<p>${escapeHtml(text)}</p>`, headers);
}

const CHANNEL_LABELS: Record<Channel, string> = {
  email: 'Email',
  sms: 'SMS',
  whatsapp: 'WhatsApp',
  slack: 'Slack',
  telegram: 'Telegram',
  push: 'Push notifications',
  webhook: 'Webhook',
  inapp: 'In-app inbox',
  pager: 'Paging',
};

/** The channels a page offers: those the recipient has an address for, and those it has a preference about. */
export function pageChannels(recipient: Recipient, prefs: Preferences): Channel[] {
  return CHANNELS.filter((ch) => addressFor(recipient, ch) !== null || prefs.channels?.[ch] !== undefined);
}

/** IANA time zones for the quiet-hours select (the runtime's list). */
const TIME_ZONES: readonly string[] = (() => {
  try {
    return Intl.supportedValuesOf('timeZone');
  } catch {
    return ['UTC'];
  }
})();

export interface PreferencePageView {
  /** The form's action: this page's own path. */
  action: string;
  name: string | null;
  channels: Channel[];
  categories: string[];
  preferences: Preferences;
  /** The recipient's time zone: quiet hours' default. */
  timezone: string;
  notice?: { kind: 'saved' } | { kind: 'error'; messages: string[] };
  /** Posted values to show again after a refusal (quiet hours), in place of the stored ones. */
  quiet?: { on: boolean; start: string; end: string; timezone: string };
}

const checkbox = (name: string, checked: boolean, label: string) =>
  `<label><input type="checkbox" name="${escapeHtml(name)}" value="on"${checked ? ' checked' : ''}> ${escapeHtml(label)}</label>`;

export function preferencePageHtml(v: PreferencePageView): string {
  const p = v.preferences;
  const notice =
    v.notice?.kind === 'saved'
      ? '<p class="notice saved" role="status">Your preferences were saved.</p>'
      : v.notice?.kind === 'error'
        ? `<div class="notice error" role="alert"><p>Nothing was saved: please correct the following.</p><ul>${v.notice.messages.map((m) => `<li>${escapeHtml(m)}</li>`).join('')}</ul></div>`
        : '';
  const channelBoxes = v.channels.map((ch) => checkbox(`channel.${ch}`, p.channels?.[ch] !== false, CHANNEL_LABELS[ch])).join('\n');
  const categoryRows = v.categories
    .map((cat, i) => {
      const entry = p.categories?.[cat];
      const boxes = v.channels.map((ch) => checkbox(`cat.${i}.ch.${ch}`, entry?.channels?.[ch] !== false, CHANNEL_LABELS[ch])).join('\n');
      return `<div class="category"><h3>${escapeHtml(cat)}</h3><input type="hidden" name="cat.${i}" value="${escapeHtml(cat)}">
${checkbox(`cat.${i}.on`, entry?.enabled !== false, 'Receive')}${boxes ? `<br><span class="by">by</span>${boxes}` : ''}</div>`;
    })
    .join('\n');
  const stored = p.quietHours;
  const quiet = v.quiet ?? { on: !!stored, start: stored?.start ?? '22:00', end: stored?.end ?? '07:00', timezone: stored?.timezone ?? v.timezone };
  const zones = TIME_ZONES.includes(quiet.timezone) ? TIME_ZONES : [quiet.timezone, ...TIME_ZONES];
  const options = zones.map((z) => `<option value="${escapeHtml(z)}"${z === quiet.timezone ? ' selected' : ''}>${escapeHtml(z)}</option>`).join('');
  const body = `<h1>Notification preferences</h1>
${v.name ? `<p>For ${escapeHtml(v.name)}</p>` : ''}
${notice}
<form method="post" action="${escapeHtml(v.action)}">
<input type="hidden" name="channels" value="${escapeHtml(v.channels.join(','))}">
<fieldset><legend>Channels</legend>
<p class="hint">Turn a channel off to receive nothing through it.</p>
${channelBoxes || '<p>No channel reaches you yet.</p>'}
</fieldset>
<fieldset><legend>Categories</legend>
${
  v.categories.length
    ? `<p class="hint">Turn a category off to receive none of it, or some of its channels off.</p>\n${categoryRows}`
    : '<p>No categories yet.</p>'
}
</fieldset>
<fieldset><legend>Quiet hours</legend>
<p class="hint">Notifications that arrive during quiet hours wait until they end (urgent ones excepted).</p>
${checkbox('quiet', quiet.on, 'Hold notifications during quiet hours')}
<div class="row">
<label>From <input type="time" name="quietStart" value="${escapeHtml(quiet.start)}"></label>
<label>Until <input type="time" name="quietEnd" value="${escapeHtml(quiet.end)}"></label>
<label>Time zone <select name="quietTimezone">${options}</select></label>
</div>
</fieldset>
<button type="submit">Save preferences</button>
</form>`;
  return body;
}

export function unsubscribePageHtml(v: { action: string; category: string; channel: string; done?: 'unsubscribed' | 'already' }): string {
  const what = `${escapeHtml(v.category)}`;
  const via = v.channel === 'email' ? 'emails' : `messages by ${escapeHtml(CHANNEL_LABELS[v.channel as Channel] ?? v.channel)}`;
  if (v.done)
    return `<h1>You are unsubscribed</h1>
<p role="status">You will no longer receive “${what}” ${via}.${v.done === 'already' ? ' (You had already unsubscribed.)' : ''}</p>`;
  return `<h1>Unsubscribe?</h1>
<p>Stop receiving “${what}” ${via}?</p>
<form method="post" action="${escapeHtml(v.action)}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button>
</form>`;
}

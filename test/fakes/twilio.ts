// A fake Twilio REST API, in Twilio's wire format:
// - POST /2010-04-01/Accounts/{AccountSid}/Messages.json (form-encoded) → 201 with a Message
//   resource, kept as sent;
// - GET the same path → the Messages list, newest first, filtered by To, From and DateSent
//   (`DateSent`, `DateSent<`, `DateSent>`, compared by day as Twilio documents), paged with
//   PageSize/Page/PageToken and the `next_page_uri` … fields the SDK follows.
// Errors use Twilio's shape {"code","message","more_info","status"}.
import { type FakeServer, hex, type RecordedRequest, type Reply, startFakeServer } from './server.js';

const MESSAGES_PATH = /^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})\/Messages\.json$/;

export function twilioError(status: number, code: number, message: string) {
  return { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
}

/** A Message resource as Twilio answers it (snake_case, RFC 2822 dates). */
export type TwilioMessage = Record<string, unknown> & { sid: string; to: string; from: string | null; body: string; date_created: string };

export interface FakeTwilio extends FakeServer {
  /** Every message the fake accepted, oldest first: what the provider sent. */
  messages: TwilioMessage[];
}

/** The UTC day (ms of its midnight) of a DateSent filter value: `YYYY-MM-DD` or an ISO 8601 time. */
function dayOf(value: string): number | null {
  const t = Date.parse(value.length === 10 ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(t)) return null;
  return t - (t % 86_400_000);
}

export async function startFakeTwilio(): Promise<FakeTwilio> {
  const messages: TwilioMessage[] = [];

  function list(accountSid: string, req: RecordedRequest): Reply {
    const q = req.query;
    const filters: Array<(m: TwilioMessage) => boolean> = [(m) => m.account_sid === accountSid];
    if (q.To) filters.push((m) => m.to === q.To);
    if (q.From) filters.push((m) => m.from === q.From);
    for (const [key, keep] of [
      ['DateSent', (d: number, day: number) => d === day],
      ['DateSent<', (d: number, day: number) => d <= day],
      ['DateSent>', (d: number, day: number) => d >= day],
    ] as const) {
      if (q[key] === undefined) continue;
      const day = dayOf(q[key]);
      if (day === null) return { status: 400, body: twilioError(400, 20001, `Invalid ${key}: ${q[key]}`) };
      filters.push((m) => typeof m.date_sent === 'string' && keep(dayOf(m.date_sent)!, day));
    }
    const pageSize = Math.min(Math.max(Number(q.PageSize ?? 50) || 50, 1), 1000);
    const page = Math.max(Number(q.Page ?? 0) || 0, 0);
    const matching = messages.filter((m) => filters.every((f) => f(m))).reverse();
    const start = page * pageSize;
    const slice = matching.slice(start, start + pageSize);
    const base = `/2010-04-01/Accounts/${accountSid}/Messages.json`;
    const params = (p: number) => {
      const u = new URLSearchParams();
      for (const [k, v] of Object.entries(q)) if (!['Page', 'PageSize', 'PageToken'].includes(k)) u.set(k, v);
      u.set('PageSize', String(pageSize));
      u.set('Page', String(p));
      if (p > 0) u.set('PageToken', `PA${matching[p * pageSize - 1]?.sid ?? ''}`);
      return `${base}?${u}`;
    };
    return {
      status: 200,
      body: {
        end: start + Math.max(slice.length - 1, 0),
        first_page_uri: params(0),
        messages: slice,
        next_page_uri: start + pageSize < matching.length ? params(page + 1) : null,
        page,
        page_size: pageSize,
        previous_page_uri: page > 0 ? params(page - 1) : null,
        start,
        uri: params(page),
      },
    };
  }

  function create(accountSid: string, req: RecordedRequest): Reply {
    const form = (req.body ?? {}) as Record<string, string>;
    if (!form.To) return { status: 400, body: twilioError(400, 21604, "A 'To' phone number is required.") };
    if (!form.From && !form.MessagingServiceSid) {
      return { status: 400, body: twilioError(400, 21603, "A 'From' phone number is required.") };
    }
    if (!form.Body && !form.MediaUrl && !form.ContentSid) {
      return { status: 400, body: twilioError(400, 21602, 'Message body is required.') };
    }
    const sid = `SM${hex(32)}`;
    const now = new Date().toUTCString();
    const message: TwilioMessage = {
      account_sid: accountSid,
      api_version: '2010-04-01',
      body: form.Body ?? '',
      date_created: now,
      date_sent: null,
      date_updated: now,
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from: form.From ?? null,
      messaging_service_sid: form.MessagingServiceSid ?? null,
      num_media: '0',
      num_segments: '1',
      price: null,
      price_unit: 'USD',
      sid,
      status: 'queued',
      subresource_uris: { media: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}/Media.json` },
      to: form.To,
      uri: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`,
    };
    // The fake hands the message to the carrier at once: later reads see it sent.
    messages.push({ ...message, status: 'sent', date_sent: now });
    return { status: 201, body: message };
  }

  function handle(req: RecordedRequest): Reply {
    const match = MESSAGES_PATH.exec(req.path);
    if ((req.method !== 'POST' && req.method !== 'GET') || !match) {
      return { status: 404, body: twilioError(404, 20404, 'The requested resource was not found') };
    }
    const accountSid = match[1];
    const auth = req.headers.authorization ?? '';
    const user = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString().split(':')[0] : '';
    if (user !== accountSid) {
      return { status: 401, body: twilioError(401, 20003, 'Authenticate') };
    }
    return req.method === 'GET' ? list(accountSid, req) : create(accountSid, req);
  }
  const server = await startFakeServer(handle, (status) => twilioError(status, status === 429 ? 20429 : 20500, `HTTP ${status}`));
  return Object.assign(server, { messages });
}

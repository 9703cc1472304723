// A fake Twilio REST API: POST /2010-04-01/Accounts/{AccountSid}/Messages.json (form-encoded)
// → 201 with a Message resource. Errors use Twilio's shape {"code","message","more_info","status"}.
import { type FakeServer, hex, type RecordedRequest, type Reply, startFakeServer } from './server.js';

const MESSAGES_PATH = /^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})\/Messages\.json$/;

export function twilioError(status: number, code: number, message: string) {
  return { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
}

export async function startFakeTwilio(): Promise<FakeServer> {
  function handle(req: RecordedRequest): Reply {
    const match = MESSAGES_PATH.exec(req.path);
    if (req.method !== 'POST' || !match) {
      return { status: 404, body: twilioError(404, 20404, 'The requested resource was not found') };
    }
    const accountSid = match[1];
    const auth = req.headers.authorization ?? '';
    const user = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString().split(':')[0] : '';
    if (user !== accountSid) {
      return { status: 401, body: twilioError(401, 20003, 'Authenticate') };
    }
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
    return {
      status: 201,
      body: {
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
      },
    };
  }
  return startFakeServer(handle, (status) => twilioError(status, status === 429 ? 20429 : 20500, `HTTP ${status}`));
}

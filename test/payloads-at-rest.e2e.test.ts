// Payloads at rest, on the stack `npm start` boots (dev server, worker, API; keys generated into
// DATA_DIR): after a notification on every channel, the Temporal CLI without a codec shows no
// address, rendered text or `data` anywhere in the namespace's histories, search attributes or
// memos; with `--codec-endpoint <API>/codec --codec-auth 'Bearer <admin token>'` it shows them.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Running } from '../runtime/index.js';
import { startFakePagerDuty } from './fakes/pagerduty.js';
import { startFakeResend } from './fakes/resend.js';
import type { FakeServer } from './fakes/server.js';
import { startFakeSlack } from './fakes/slack.js';
import { startFakeTwilio, twilioError } from './fakes/twilio.js';
import { startFakeWebhook } from './fakes/webhook.js';
import { quietTemporalLogs, stackTaskQueue, startTestStack } from './support.js';
import { until } from './until.js';

const run = promisify(execFile);

// Each one would be personal data or content in clear; all distinctive enough to find anywhere.
const RECIPIENT = {
  email: 'zoe.quill@example.com',
  phone: '+14155550199',
  slack: 'C0QUILL0001',
  pagerRoutingKey: 'R0UTINGQUILL00000000000000000042',
  name: 'Zoe Quillfeather',
};
const DATA = { order: { id: 'ORD-7F3A9C' }, note: 'fragile-porcelain-teapot' };
const RENDERED = 'Kumquat parcel';
const SECRETS = [...Object.values(RECIPIENT), DATA.order.id, DATA.note, RENDERED];

/** Text with every base64 run also decoded: a payload shown as base64 is still "in clear". */
function readable(text: string): string {
  const decoded = (text.match(/[A-Za-z0-9+/]{16,}={0,2}/g) ?? []).map((b) => Buffer.from(b, 'base64').toString('latin1'));
  return [text, ...decoded].join('\n');
}

describe('payloads at rest', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-payloads-'));
  let running: Running | undefined;
  let fakes: FakeServer[] = [];
  let cli: (...args: string[]) => Promise<string>;

  beforeAll(async () => {
    quietTemporalLogs();
    const [resend, twilio, slack, pagerduty, hook] = await Promise.all([startFakeResend(), startFakeTwilio(), startFakeSlack(), startFakePagerDuty(), startFakeWebhook()]);
    fakes = [resend, twilio, slack, pagerduty, hook];
    running = await startTestStack(dataDir, {
      TEMPORAL_TASK_QUEUE: 'payloads-e2e',
      RESEND_API_KEY: 're_test_0123456789',
      RESEND_BASE_URL: resend.url,
      TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`,
      TWILIO_AUTH_TOKEN: 'twilio-token',
      TWILIO_FROM: '+15005550006',
      TWILIO_API_BASE_URL: twilio.url,
      SLACK_BOT_TOKEN: 'xoxb-test-0123456789',
      SLACK_API_URL: `${slack.url}/api/`,
      PAGERDUTY_EVENTS_URL: pagerduty.eventsUrl,
    });
    cli = async (...args) => (await run(inject('temporalCliPath'), [...args, '--address', running!.temporalAddress, '--output', 'json'], { maxBuffer: 64 * 1024 * 1024 })).stdout;

    const call = async (method: string, path: string, token: string, body?: unknown) => {
      const res = await fetch(`${running!.apiUrl}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: await res.json() };
    };
    const tenant = (await call('POST', '/v1/admin/tenants', running.adminToken, { name: 'Acme' })).body;
    expect((await call('PUT', '/v1/recipients/user-42', tenant.apiKey, { ...RECIPIENT, webhookUrl: `${hook.url}/hooks` })).status).toBe(200);
    const text = `${RENDERED} {{ order.id }}: {{ note }}`;
    const created = await call('POST', '/v1/templates', tenant.apiKey, {
      key: 'order-shipped',
      content: {
        en: {
          email: { subject: text, html: `<p>${text}</p>`, text },
          sms: { text },
          slack: { text },
          webhook: { event: 'order.shipped', text },
          inapp: { title: text, body: text },
          pager: { summary: text },
        },
      },
    });
    expect(created.status).toBe(201);
    const sent = await call('POST', '/v1/notifications', tenant.apiKey, { recipient: 'user-42', template: 'order-shipped', data: DATA });
    expect(sent.status).toBe(202);
    const done = await until(
      () => call('GET', `/v1/notifications/${sent.body.id}`, tenant.apiKey),
      (r) => !['accepted', 'scheduled', 'held', 'sending'].includes(r.body.status),
      60_000,
      200,
    );
    expect(done.body.status).toBe('sent');
    expect(done.body.deliveries.map((d: { channel: string }) => d.channel).sort()).toEqual(['email', 'inapp', 'pager', 'slack', 'sms', 'webhook']);
    // A provider's refusal that quotes the address: the failure's message is encrypted too.
    twilio.enqueue({ status: 400, body: twilioError(400, 21211, `The 'To' number ${RECIPIENT.phone} is not a valid phone number.`) });
    const refused = await call('POST', '/v1/notifications', tenant.apiKey, { recipient: 'user-42', template: 'order-shipped', data: DATA, channels: ['sms'] });
    expect(refused.status).toBe(202);
    const failed = await until(
      () => call('GET', `/v1/notifications/${refused.body.id}`, tenant.apiKey),
      (r) => !['accepted', 'scheduled', 'held', 'sending'].includes(r.body.status),
      60_000,
      200,
    );
    expect(failed.body.status).toBe('failed');
    // The providers got the real thing: the codec is only between us and Temporal.
    expect(JSON.stringify(resend.requests.map((r) => r.body))).toContain(RECIPIENT.email);
    expect(JSON.stringify(hook.requests.map((r) => r.body))).toContain(`${RENDERED} ${DATA.order.id}`);
  }, 180_000);

  afterAll(async () => {
    await running?.stop();
    await Promise.all(fakes.map((f) => f.close()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps its generated keys in DATA_DIR, readable by its owner only', () => {
    const file = join(dataDir, 'encryption-keys');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toMatch(/^k\d{8}-[0-9a-f]{6}:/);
  });

  it('shows no address, rendered text or data in clear to `temporal workflow show` without the codec, and all of it through /codec', { timeout: 120_000 }, async () => {
    // This stack's runs (on the shared cluster, other suites' runs are in the namespace too).
    const listed = await cli('workflow', 'list', '--query', `TaskQueue = '${stackTaskQueue(dataDir, 'payloads-e2e')}'`);
    const ids: string[] = JSON.parse(listed).map((w: { execution: { workflowId: string } }) => w.execution.workflowId);
    expect(ids.length).toBeGreaterThan(0);
    // Search attributes and memos carry ids only.
    const described = await Promise.all(ids.map((id) => cli('workflow', 'describe', '-w', id)));
    const plain = await Promise.all(ids.map((id) => cli('workflow', 'show', '-w', id)));
    const visible = readable([listed, ...described, ...plain].join('\n'));
    expect(SECRETS.filter((s) => visible.includes(s))).toEqual([]);
    expect(visible).toContain('binary/encrypted');
    // The refused SMS's run holds an activity failure whose message the CLI cannot read without the codec.
    expect(visible).toContain('Encoded failure');

    const codec = ['--codec-endpoint', `${running!.apiUrl}/codec`, '--codec-auth', `Bearer ${running!.adminToken}`];
    const decoded = readable((await Promise.all(ids.map((id) => cli('workflow', 'show', '-w', id, ...codec)))).join('\n'));
    expect(SECRETS.filter((s) => !decoded.includes(s))).toEqual([]);
    expect(decoded).toContain(`The 'To' number ${RECIPIENT.phone} is not a valid phone number`);
    // Without the admin token the codec server reads nothing.
    const refused = await fetch(`${running!.apiUrl}/codec/decode`, { method: 'POST', headers: { authorization: 'Bearer wrong', 'content-type': 'application/json' }, body: '{"payloads":[]}' });
    expect(refused.status).toBe(401);
  });
});

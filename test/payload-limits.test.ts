// A notification too large for Temporal's payload limits is refused at acceptance
// (usecases/payload-size.ts): 400 naming the field, no row, no run. Through the API on PGlite and
// the time-skipping server, with the starts the API's client makes recorded by an interceptor.
import type { WorkflowClientInterceptor } from '@temporalio/client';
import { afterEach, describe, expect, it } from 'vitest';
import { broadcasts, notifications } from '../db/schema.js';
import { MAX_RUN_PAYLOAD_BYTES } from '../usecases/payload-size.js';
import { startHarness, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** A harness whose API client records the workflow ids it starts or signals with start. */
async function recorded() {
  const starts: string[] = [];
  const interceptor: WorkflowClientInterceptor = {
    async start(input, next) {
      starts.push(input.options.workflowId);
      return next(input);
    },
    async startWithDetails(input, next) {
      starts.push(input.options.workflowId);
      return next(input);
    },
    async signalWithStart(input, next) {
      starts.push(input.options.workflowId);
      return next(input);
    },
    async startUpdateWithStart(input, next) {
      starts.push(input.workflowStartOptions.workflowId);
      return next(input);
    },
  };
  const x = await startHarness({ clientInterceptors: [interceptor] });
  return { x, starts };
}

/** `n` characters of three bytes each in UTF-8. */
const wide = (n: number) => '€'.repeat(n);

describe('payload size at acceptance', () => {
  it('refuses a notification whose run would pass the payload bound: 400 naming the template, no row, no run; its other channel is accepted', async () => {
    const { x, starts } = await recorded();
    h = x;
    expect((await h.call('PUT', '/v1/recipients/ann', { email: 'ann@example.com', locale: 'en' })).status).toBe(200);
    // Each field is within a template's bounds (100,000 characters); the email together is 600 KB.
    const template = await h.call('POST', '/v1/templates', {
      key: 'report',
      content: { en: { email: { subject: 'Report {{ n }}', html: wide(100_000), text: wide(100_000) }, inapp: { title: 'Report {{ n }}', body: 'Ready' } } },
    });
    expect(template.status).toBe(201);

    const refused = await h.call('POST', '/v1/notifications', { recipient: 'ann', template: 'report', data: { n: 1 } });
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toHaveLength(1);
    expect(refused.body.errors[0].path).toBe('template');
    expect(refused.body.errors[0].message).toMatch(/template report's en content for email, inapp: 58\d\.\d KiB/);
    expect(refused.body.errors[0].message).toContain(`more than the ${(MAX_RUN_PAYLOAD_BYTES / 1024).toFixed(1)} KiB allowed`);
    expect(await h.db.db.select().from(notifications)).toEqual([]);
    expect(starts).toEqual([]);

    // The same template on its small channel only is accepted and started.
    const accepted = await h.call('POST', '/v1/notifications', { recipient: 'ann', template: 'report', data: { n: 2 }, channels: ['inapp'] });
    expect(accepted.status).toBe(202);
    expect(starts).toHaveLength(1);
    expect((await h.db.db.select().from(notifications)).map((n) => n.id)).toEqual([accepted.body.id]);
  });

  it("counts a digest's joined items at their most, and refuses a broadcast or a schedule whose locale's run would pass the bound", async () => {
    const { x, starts } = await recorded();
    h = x;
    expect((await h.call('PUT', '/v1/recipients/ann', { email: 'ann@example.com' })).status).toBe(200);
    // 250 KB of email: under the bound alone, over it beside a full digest window (256 KiB).
    const template = await h.call('POST', '/v1/templates', {
      key: 'weekly',
      content: {
        en: { email: { subject: 'Weekly', html: wide(83_000) }, inapp: { title: 'Weekly', body: 'Ready' } },
        fr: { email: { subject: 'Hebdo', html: wide(100_000), text: wide(100_000) } },
      },
    });
    expect(template.status).toBe(201);

    const digest = await h.call('POST', '/v1/notifications', { recipient: 'ann', template: 'weekly', channels: ['email'], digest: { key: 'weekly', windowSeconds: 3600 } });
    expect(digest.status).toBe(400);
    expect(digest.body.errors.map((e: any) => e.path)).toEqual(['digest']);
    expect(digest.body.errors[0].message).toMatch(/template weekly's en content for email: 24\d\.\d KiB; a digest window's items at most: 25\d\.\d KiB/);
    expect(starts).toEqual([]);

    // A broadcast's French recipients would carry 600 KB.
    const broadcast = await h.call('POST', '/v1/broadcasts', { recipients: ['ann'], template: 'weekly' });
    expect(broadcast.status).toBe(400);
    expect(broadcast.body.errors[0]).toMatchObject({ path: 'template' });
    expect(broadcast.body.errors[0].message).toMatch(/template weekly's fr content for email/);
    expect(await h.db.db.select().from(broadcasts)).toEqual([]);

    const schedule = await h.call('PUT', '/v1/schedules/weekly', { cron: '0 9 * * 1', broadcast: { all: true, template: 'weekly' } });
    expect(schedule.status).toBe(400);
    expect(schedule.body.errors[0]).toMatchObject({ path: 'broadcast.template' });
    expect(starts).toEqual([]);
    expect(await h.db.db.select().from(notifications)).toEqual([]);

    // Without the digest, the English email fits.
    const single = await h.call('POST', '/v1/notifications', { recipient: 'ann', template: 'weekly', channels: ['email'] });
    expect(single.status).toBe(202);
    expect(starts).toHaveLength(1);
  });
});

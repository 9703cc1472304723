// Schedules are Temporal Schedules, which the time-skipping test server does not implement:
// these run on the Temporal dev server (the CLI's), through the API, with a worker on it.
import { msToTs, tsToDate } from '@temporalio/common/lib/time.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TERMINAL_STATUSES } from '../domain/types.js';
import { workflowIds } from '../domain/workflow-ids.js';
import { ADMIN, seed, startDevHarness, type DevHarness } from './harness.js';
import { until } from './until.js';

let h: DevHarness;

beforeAll(async () => {
  // The API talks to the dev server; a worker there runs the schedules' runs.
  h = await startDevHarness({ queuePrefix: 'schedules' });
  await seed(h);
});

afterAll(() => h?.close());

const notification = { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 7 }, name: 'Ann' } };

/** The weekday and HH:MM an instant reads on a wall clock in `timeZone`. */
function wallClock(instant: Date, timeZone: string) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
      .formatToParts(instant)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.weekday} ${parts.hour}:${parts.minute}`;
}

describe('schedules', () => {
  it('a weekday-09:00 Europe/Berlin schedule fires at 09:00 Berlin time on both sides of the March 2027 DST change', async () => {
    const put = await h.call('PUT', '/v1/schedules/morning-report', { cron: '0 9 * * MON-FRI', timezone: 'Europe/Berlin', notification });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ id: 'morning-report', cron: '0 9 * * MON-FRI', timezone: 'Europe/Berlin', paused: false, notification, recentRuns: [] });

    // The server's own answer for the weeks around the change (Sunday 28 March 2027):
    // 08:00 UTC while Berlin is on CET, 07:00 UTC once it is on CEST.
    const matching = await h.dev.connection.workflowService.listScheduleMatchingTimes({
      namespace: h.dev.namespace ?? 'default',
      scheduleId: workflowIds.schedule(h.tenantId, 'morning-report'),
      startTime: msToTs(Date.parse('2027-03-22T00:00:00Z')),
      endTime: msToTs(Date.parse('2027-04-03T00:00:00Z')),
    });
    const fires = (matching.startTime ?? []).map((t) => tsToDate(t).toISOString());
    expect(fires).toEqual([
      '2027-03-22T08:00:00.000Z',
      '2027-03-23T08:00:00.000Z',
      '2027-03-24T08:00:00.000Z',
      '2027-03-25T08:00:00.000Z',
      '2027-03-26T08:00:00.000Z',
      '2027-03-29T07:00:00.000Z',
      '2027-03-30T07:00:00.000Z',
      '2027-03-31T07:00:00.000Z',
      '2027-04-01T07:00:00.000Z',
      '2027-04-02T07:00:00.000Z',
    ]);

    // nextRunAt is the next weekday 09:00 in Berlin, whenever this test runs.
    const next = new Date(put.body.nextRunAt);
    expect(next.getTime()).toBeGreaterThan(Date.now());
    expect(wallClock(next, 'Europe/Berlin')).toMatch(/^(Mon|Tue|Wed|Thu|Fri) 09:00$/);
    expect(next.getTime() - Date.now()).toBeLessThanOrEqual(4 * 86400_000);
  });

  it('trigger runs it now: an ordinary notification is accepted and sent, and the run is listed', async () => {
    await h.call('PUT', '/v1/schedules/digest-now', { cron: '0 9 * * MON-FRI', timezone: 'Europe/Berlin', notification });
    const sentBefore = h.hook.requests.length;
    expect(await h.call('POST', '/v1/schedules/digest-now/trigger')).toMatchObject({ status: 202 });

    const got = await until(
      async () => (await h.call('GET', '/v1/schedules/digest-now')).body,
      (s) => s.recentRuns[0]?.status === 'completed',
    );
    const [run] = got.recentRuns;
    expect(run).toMatchObject({ status: 'completed', notificationId: expect.stringMatching(/^ntf_/) });
    expect(run.workflowId.startsWith(`scheduled:${h.tenantId}:digest-now`)).toBe(true);
    const sent = await until(
      async () => (await h.call('GET', `/v1/notifications/${run.notificationId}`)).body,
      (n) => TERMINAL_STATUSES.includes(n.status),
    );
    expect(sent).toMatchObject({ status: 'sent', recipient: 'user-42', template: 'order-shipped', templateVersion: 1 });
    expect(h.hook.requests.length).toBe(sentBefore + 1);
  });

  it('a scheduled broadcast: each run accepts and starts a broadcast', async () => {
    const broadcast = { recipients: ['user-42'], template: 'order-shipped', data: { order: { id: 8 }, name: 'All' } };
    const put = await h.call('PUT', '/v1/schedules/weekly-news', { cron: '0 8 * * MON', timezone: 'Europe/Berlin', broadcast });
    expect(put).toMatchObject({ status: 200, body: { broadcast } });
    await h.call('POST', '/v1/schedules/weekly-news/trigger');
    const got = await until(
      async () => (await h.call('GET', '/v1/schedules/weekly-news')).body,
      (s) => s.recentRuns[0]?.status === 'completed',
    );
    const { broadcastId } = got.recentRuns[0];
    expect(broadcastId).toMatch(/^bc_/);
    const done = await until(
      async () => (await h.call('GET', `/v1/broadcasts/${broadcastId}`)).body,
      (b) => b.status !== 'running',
    );
    expect(done).toMatchObject({ status: 'completed', total: 1, sent: 1, pending: 0 });
  });

  it('an interval schedule fires on its own and skips overlaps; paused, it has no next run; delete removes it', { timeout: 120_000 }, async () => {
    // Once a minute is the most a schedule may fire: Temporal's interval fires on each minute.
    const put = await h.call('PUT', '/v1/schedules/every-minute', { everySeconds: 60, notification });
    expect(put.body).toMatchObject({ everySeconds: 60, timezone: 'UTC', paused: false });
    const overlap = async () => (await h.dev.client.schedule.getHandle(workflowIds.schedule(h.tenantId, 'every-minute')).describe()).policies.overlap;
    expect(await overlap()).toBe('SKIP');
    await until(
      async () => (await h.call('GET', '/v1/schedules/every-minute')).body,
      (s) => s.recentRuns.length >= 1,
      90_000,
      500,
    );

    // Replace with paused: true (the same PUT, create or replace); the replacement skips overlaps too.
    const paused = await h.call('PUT', '/v1/schedules/every-minute', { everySeconds: 60, notification, paused: true, note: 'holiday' });
    expect(paused.body).toMatchObject({ paused: true, note: 'holiday', nextRunAt: null });
    expect(await overlap()).toBe('SKIP');
    const schedule = await h.dev.client.schedule.getHandle(workflowIds.schedule(h.tenantId, 'every-minute')).describe();
    expect(schedule.state.paused).toBe(true);

    expect((await h.call('DELETE', '/v1/schedules/every-minute')).status).toBe(204);
    expect((await h.call('GET', '/v1/schedules/every-minute')).status).toBe(404);
    expect((await h.call('DELETE', '/v1/schedules/every-minute')).status).toBe(404);
  });

  it('refuses schedules that would fire more often than once a minute, naming the field', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ everySeconds: 30 }, 'everySeconds'],
      [{ everySeconds: 1 }, 'everySeconds'],
      [{ cron: '*/5 * * * * * *' }, 'cron'],
      [{ cron: '* * * * * * *' }, 'cron'],
      [{ cron: '@every 10s' }, 'cron'],
      [{ cron: 'CRON_TZ=Europe/Berlin @every 59s' }, 'cron'],
    ];
    for (const [spec, path] of cases) {
      const res = await h.call('PUT', '/v1/schedules/too-often', { ...spec, notification });
      expect(res.status).toBe(400);
      expect(res.body.errors.map((e: any) => e.path)).toEqual([path]);
    }
    expect((await h.call('GET', '/v1/schedules/too-often')).status).toBe(404);
    // Once a minute is allowed, whichever way it is written.
    for (const spec of [{ cron: '* * * * *' }, { cron: '30 * * * * * *' }, { cron: '@every 1m' }, { everySeconds: 60 }]) {
      const res = await h.call('PUT', '/v1/schedules/once-a-minute', { ...spec, notification, paused: true });
      expect(res.status).toBe(200);
    }
    expect((await h.call('DELETE', '/v1/schedules/once-a-minute')).status).toBe(204);
  });

  it('validates the request as a POST would, and keeps tenants apart', async () => {
    const bad = await h.call('PUT', '/v1/schedules/bad', { cron: '0 9 * * *', notification: { ...notification, recipient: 'nobody' } });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([{ path: 'notification.recipient', message: 'unknown recipient' }]);
    const missing = await h.call('PUT', '/v1/schedules/bad', { cron: '0 9 * * *', notification: { ...notification, data: {} } });
    expect(missing.status).toBe(400);
    expect(missing.body.errors.map((e: any) => e.path)).toEqual(['notification.data.name', 'notification.data.order.id']);
    const both = await h.call('PUT', '/v1/schedules/bad', { cron: '0 9 * * *', everySeconds: 60, notification });
    expect(both.status).toBe(400);
    const cron = await h.call('PUT', '/v1/schedules/bad', { cron: 'every tuesday', notification });
    expect(cron).toMatchObject({ status: 400, body: { errors: [{ path: 'cron' }] } });
    expect((await h.call('GET', '/v1/schedules/bad')).status).toBe(404);

    // Another tenant sees none of this tenant's schedules, by the same id.
    await h.call('PUT', '/v1/schedules/shared-name', { cron: '0 9 * * *', notification });
    const other = await h.app.request('/v1/admin/tenants', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Other' }),
    });
    const { apiKey } = (await other.json()) as { apiKey: string };
    const asOther = (method: string, path: string) => h.app.request(path, { method, headers: { authorization: `Bearer ${apiKey}` } });
    expect((await asOther('GET', '/v1/schedules/shared-name')).status).toBe(404);
    expect((await asOther('POST', '/v1/schedules/shared-name/trigger')).status).toBe(404);
    expect((await asOther('DELETE', '/v1/schedules/shared-name')).status).toBe(404);
    expect((await h.call('GET', '/v1/schedules/shared-name')).status).toBe(200);
  });
});

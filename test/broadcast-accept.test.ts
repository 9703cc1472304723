// Accepting a broadcast when Temporal does not confirm the start: the recorded broadcast is never
// deleted; with an Idempotency-Key the retry starts it (or joins the run that did start), and
// without one a run Temporal says does not exist leaves the broadcast cancelled, nothing sent.
import { afterEach, describe, expect, it } from 'vitest';
import { broadcasts, recipients } from '../db/schema.js';
import { loseStartAnswers, startHarness, type Harness } from './harness.js';
import { until } from './until.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function setUp(x: Harness) {
  await x.db.db.insert(recipients).values(['a', 'b', 'c'].map((id) => ({ tenantId: x.tenantId, id, webhookUrl: `${x.hook.url}/hooks` })));
  const t = await x.call('POST', '/v1/templates', { key: 'launch', content: { en: { webhook: { event: 'launch', product: '{{ product }}' } } } });
  expect(t.status).toBe(201);
}

const request = { recipients: ['a', 'b', 'c'], template: 'launch', data: { product: 'Tocsin' } };

describe('accepting a broadcast', () => {
  it('a start whose answer is lost answers 503, keeps the broadcast, and the retry with the same key joins the run that did start', async () => {
    let lose = true;
    h = await startHarness({
      clientInterceptors: [loseStartAnswers(() => lose)],
    });
    await setUp(h);
    const first = await h.call('POST', '/v1/broadcasts', request, { 'idempotency-key': 'b1' });
    expect(first.status).toBe(503);
    const [row] = await h.db.db.select().from(broadcasts);
    expect(row).toMatchObject({ status: 'running', total: 3 });
    // The server did start it: the recipients are sent to although the client heard 503.
    await until(() => Promise.resolve(h!.hook.requests.length), (n) => n === 3);
    lose = false;
    const retried = await h.call('POST', '/v1/broadcasts', request, { 'idempotency-key': 'b1' });
    expect(retried.status).toBe(202);
    expect(retried.body.id).toBe(row.id);
    const done = await until(() => h!.call('GET', `/v1/broadcasts/${row.id}`).then((r) => r.body), (b) => b.status === 'completed');
    expect(done).toMatchObject({ total: 3, sent: 3, failed: 0, pending: 0 });
    expect(h.hook.requests).toHaveLength(3);
    expect(await h.db.db.select().from(broadcasts)).toHaveLength(1);
  });

  it('a start refused before it reached Temporal, without a key: 503, and the broadcast reads cancelled with nothing sent', async () => {
    let refuse = true;
    h = await startHarness({
      clientInterceptors: [
        {
          async startWithDetails(input, next) {
            if (refuse) throw new Error('14 UNAVAILABLE: no connection');
            return next(input);
          },
        },
      ],
    });
    await setUp(h);
    const res = await h.call('POST', '/v1/broadcasts', request);
    expect(res.status).toBe(503);
    expect(res.body.detail).toMatch(/nothing was sent/);
    const [row] = await h.db.db.select().from(broadcasts);
    const view = await h.call('GET', `/v1/broadcasts/${row.id}`);
    expect(view.body).toMatchObject({ status: 'cancelled', total: 3, sent: 0, cancelled: 3, pending: 0 });
    // The next request (Temporal back) is a broadcast of its own, sent once.
    refuse = false;
    const next = await h.call('POST', '/v1/broadcasts', request);
    expect(next.status).toBe(202);
    await until(() => h!.call('GET', `/v1/broadcasts/${next.body.id}`).then((r) => r.body), (b) => b.status === 'completed');
    expect(h.hook.requests).toHaveLength(3);
  });
});

// The analytics query's cost (README: "Analytics and failed deliveries"): a 1,000,000-delivery
// table on a private PostgreSQL cluster (Debian's server; or DATABASE_URL), filled in SQL with
// generate_series, then GET /v1/analytics/deliveries' statement for one day by hour, timed
// (median of 7 runs after a warm-up) and EXPLAINed. Two shapes: the million spread over 30
// days (a day holds ~33,000), and over 7 days (a day holds ~143,000).
//   npx tsx bench/analytics.ts            (ANALYTICS_BENCH_ROWS=1000000 by default)
import { sql } from 'drizzle-orm';
import { openDatabase, rowsOf } from '../db/client.js';
import { deliveryAnalyticsQuery } from '../db/analytics.js';
import { startPgCluster } from '../scripts/pg-cluster.js';

const ROWS = Number(process.env.ANALYTICS_BENCH_ROWS ?? 1_000_000);
const DAY = 24 * 3600_000;

async function main() {
  const cluster = process.env.DATABASE_URL ? null : await startPgCluster();
  const url = process.env.DATABASE_URL ?? cluster!.url;
  const database = await openDatabase({ url, max: 2 });
  try {
    await database.migrate();
    const { db } = database;
    const end = Date.parse('2026-12-01T00:00:00Z');
    const shapes = (process.env.ANALYTICS_BENCH_DAYS ?? '30,7').split(',').map(Number);
    for (const [tenant, days] of shapes.map((d) => [`bench-${d}d`, d] as const)) {
      await db.execute(sql`insert into tenants (id, name, webhook_secret) values (${tenant}, ${tenant}, 'whsec_x') on conflict do nothing`);
      const t0 = Date.now();
      // Two deliveries (inapp, email) per notification; 2% failed, 1% skipped, the rest sent
      // within 0-2 s (some delivered); a few providers and templates.
      await db.execute(sql`
        insert into notifications (id, tenant_id, recipient_id, template_key, template_version, category, priority, strategy, channels, data, status, workflow_id, created_at)
        select ${tenant} || '-' || g, ${tenant}, 'r' || (g % 5000), 't' || (g % 7), 1, 'c' || (g % 3), 'normal', 'all', '["inapp","email"]'::jsonb, '{}'::jsonb, 'sent', 'w',
               ${new Date(end - days * DAY).toISOString()}::timestamptz + (g * ${(days * DAY) / (ROWS / 2)}::float8) * interval '1 millisecond'
        from generate_series(1, ${ROWS / 2}) g`);
      await db.execute(sql`
        insert into deliveries (id, notification_id, tenant_id, template_key, category, position, channel, status, provider, sent_at, created_at, error_code)
        select n.id || ':' || c.ch, n.id, n.tenant_id, n.template_key, n.category, c.pos, c.ch,
               s.status, case when s.status in ('sent', 'delivered') then 'p' || (abs(hashtext(n.id)) % 3) end,
               case when s.status in ('sent', 'delivered') then n.created_at + (abs(hashtext(n.id || c.ch)) % 2000) * interval '1 millisecond' end,
               n.created_at, case when s.status = 'failed' then 'provider_rejected' end
        from notifications n cross join (values (0, 'inapp'), (1, 'email')) c(pos, ch)
        cross join lateral (select case when abs(hashtext(n.id || c.ch)) % 100 < 2 then 'failed' when abs(hashtext(n.id || c.ch)) % 100 < 3 then 'skipped'
                                        when abs(hashtext(n.id || c.ch)) % 100 < 50 then 'delivered' else 'sent' end as status) s
        where n.tenant_id = ${tenant}`);
      await db.execute(sql`analyze notifications; analyze deliveries`);
      const loaded = Date.now() - t0;
      const q = deliveryAnalyticsQuery(tenant, { from: new Date(end - DAY), to: new Date(end), interval: 'hour', groupBy: 'channel', limit: 10_001 });
      const rows = rowsOf<Record<string, unknown>>(await db.execute(q));
      const times: number[] = [];
      for (let i = 0; i < 7; i++) {
        const s = process.hrtime.bigint();
        await db.execute(q);
        times.push(Number(process.hrtime.bigint() - s) / 1e6);
      }
      times.sort((a, b) => a - b);
      const plan = rowsOf<{ 'QUERY PLAN': string }>(await db.execute(sql`explain (analyze, buffers) ${q}`)).map((r) => r['QUERY PLAN']);
      const [count] = rowsOf<{ n: number }>(await db.execute(sql`select count(*)::int as n from deliveries where tenant_id = ${tenant}`));
      console.log(`\n## ${tenant}: ${count.n} deliveries over ${days} days (loaded in ${(loaded / 1000).toFixed(1)} s)`);
      console.log(`one day by hour, groupBy channel: ${rows.length} rows; median ${times[3].toFixed(0)} ms, min ${times[0].toFixed(0)} ms, max ${times[6].toFixed(0)} ms`);
      console.log('```\n' + plan.join('\n') + '\n```');
    }
    const [total] = rowsOf<{ n: number }>(await db.execute(sql`select count(*)::int as n from deliveries`));
    console.log(`\ndeliveries in the table: ${total.n}`);
  } finally {
    await database.close();
    cluster?.destroy();
  }
}

await main();

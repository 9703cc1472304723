// Recurring sends (usecases/schedules.ts): each is a Temporal Schedule.
import { createRoute, z } from '@hono/zod-openapi';
import { deleteSchedule, getSchedule, putSchedule, triggerSchedule } from '../../usecases/schedules.js';
import { json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';
import { ScheduleBody, ScheduleId } from '../../usecases/schemas.js';

const IdParam = z.object({ scheduleId: ScheduleId });
const ScheduleView = z
  .object({
    id: z.string(),
    cron: z.string().optional(),
    everySeconds: z.number().int().optional(),
    timezone: z.string(),
    notification: z.record(z.string(), z.unknown()).optional(),
    broadcast: z.record(z.string(), z.unknown()).optional(),
    paused: z.boolean(),
    note: z.string().nullable(),
    nextRunAt: Timestamp.nullable(),
    recentRuns: z.array(
      z.object({
        scheduledAt: Timestamp,
        startedAt: Timestamp,
        workflowId: z.string(),
        status: z.string().openapi({ description: '`completed`, `failed`, `running`, …' }),
        notificationId: z.string().optional(),
        broadcastId: z.string().optional(),
        error: z.string().optional(),
      }),
    ),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .openapi('Schedule');
export function scheduleRoutes(deps: AppDeps) {
  const app = router<Env>();

  const put = createRoute({
    method: 'put',
    path: '/{scheduleId}',
    summary: 'Create or replace a recurring schedule (a Temporal Schedule)',
    description: 'Give either `cron` or `everySeconds`, and either `notification` or `broadcast`; each run is accepted like the POST it names.',
    security: security.tenant,
    request: { params: IdParam, body: jsonBody(ScheduleBody) },
    responses: { 200: json(ScheduleView, 'The schedule'), ...tenantProblems() },
  });
  app.openapi(put, async (c) => {
    const view = await putSchedule(deps, c.get('tenantId'), c.req.valid('param').scheduleId, c.req.valid('json'));
    return c.json(view, 200);
  });

  const get = createRoute({
    method: 'get',
    path: '/{scheduleId}',
    summary: 'A schedule with nextRunAt and recentRuns',
    security: security.tenant,
    request: { params: IdParam },
    responses: { 200: json(ScheduleView, 'The schedule'), ...tenantProblems() },
  });
  app.openapi(get, async (c) => {
    return c.json(await getSchedule(deps, c.get('tenantId'), c.req.valid('param').scheduleId), 200);
  });

  const remove = createRoute({
    method: 'delete',
    path: '/{scheduleId}',
    summary: 'Delete a schedule',
    security: security.tenant,
    request: { params: IdParam },
    responses: { 204: { description: 'Deleted' }, ...tenantProblems() },
  });
  app.openapi(remove, async (c) => {
    await deleteSchedule(deps, c.get('tenantId'), c.req.valid('param').scheduleId);
    return c.body(null, 204);
  });

  const trigger = createRoute({
    method: 'post',
    path: '/{scheduleId}/trigger',
    summary: 'Run a schedule now',
    security: security.tenant,
    request: { params: IdParam },
    responses: { 202: json(z.object({ id: z.string(), triggered: z.literal(true) }), 'A run was started'), ...tenantProblems() },
  });
  app.openapi(trigger, async (c) => {
    const { scheduleId } = c.req.valid('param');
    await triggerSchedule(deps, c.get('tenantId'), scheduleId);
    return c.json({ id: scheduleId, triggered: true as const }, 202);
  });

  return app;
}

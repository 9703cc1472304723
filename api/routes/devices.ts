// A recipient's push devices (usecases/devices.ts), under /v1/recipients/{recipientId}/devices.
import { createRoute, z } from '@hono/zod-openapi';
import { deleteDevice, listDevices, putDevice } from '../../usecases/devices.js';
import { DeviceBody, DeviceId, RecipientId } from '../../usecases/schemas.js';
import { json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';

const Params = z.object({ recipientId: RecipientId, deviceId: DeviceId });
export const DeviceView = z
  .object({
    id: z.string(),
    provider: z.enum(['fcm', 'apns', 'webpush']),
    token: z.string().optional(),
    subscription: z.object({ endpoint: z.string(), keys: z.object({ p256dh: z.string(), auth: z.string() }) }).optional(),
    platform: z.string().nullable(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .openapi('Device');

export function deviceRoutes(deps: AppDeps) {
  const app = router<Env>();

  const put = createRoute({
    method: 'put',
    path: '/{recipientId}/devices/{deviceId}',
    summary: 'Register or replace a push device of a recipient',
    description: 'An FCM or APNs `token`, or a Web Push `subscription`. A device its provider reports gone is removed at once.',
    security: security.tenant,
    request: { params: Params, body: jsonBody(DeviceBody) },
    responses: { 200: json(DeviceView, 'The stored device'), ...tenantProblems() },
  });
  app.openapi(put, async (c) => {
    const { recipientId, deviceId } = c.req.valid('param');
    return c.json(await putDevice(deps, c.get('tenantId'), recipientId, deviceId, c.req.valid('json')), 200);
  });

  const list = createRoute({
    method: 'get',
    path: '/{recipientId}/devices',
    summary: 'A recipient’s push devices',
    security: security.tenant,
    request: { params: z.object({ recipientId: RecipientId }) },
    responses: { 200: json(z.object({ data: z.array(DeviceView) }), 'Its devices, oldest first'), ...tenantProblems() },
  });
  app.openapi(list, async (c) => c.json({ data: await listDevices(deps, c.get('tenantId'), c.req.valid('param').recipientId) }, 200));

  const remove = createRoute({
    method: 'delete',
    path: '/{recipientId}/devices/{deviceId}',
    summary: 'Remove a push device',
    security: security.tenant,
    request: { params: Params },
    responses: { 204: { description: 'Removed' }, ...tenantProblems() },
  });
  app.openapi(remove, async (c) => {
    const { recipientId, deviceId } = c.req.valid('param');
    await deleteDevice(deps, c.get('tenantId'), recipientId, deviceId);
    return c.body(null, 204);
  });

  return app;
}

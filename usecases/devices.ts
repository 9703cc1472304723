// A recipient's push devices. A Web Push endpoint is a URL Tocsin will POST to: it passes the
// webhook address guard (WEBHOOK_ALLOWED_HOSTS exempts), so no tenant can aim sends at a
// private address.
import type { Db } from '../db/client.js';
import { deleteDevice as removeDevice, devicesOf, putDevice as storeDevice, type DeviceRow } from '../db/devices.js';
import { findRecipient } from '../db/recipients.js';
import { missing } from '../domain/errors.js';
import type { DeviceRequest } from './schemas.js';
import { refuseWebhookUrls } from './webhook-address.js';

export interface DeviceDeps {
  db: Db;
  webhookAllowedHosts?: readonly string[];
}

export function presentDevice(row: DeviceRow) {
  return {
    id: row.id,
    provider: row.provider,
    ...(row.token ? { token: row.token } : {}),
    ...(row.subscription ? { subscription: row.subscription } : {}),
    platform: row.platform,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}
export type DeviceView = ReturnType<typeof presentDevice>;

export async function putDevice(deps: DeviceDeps, tenantId: string, recipientId: string, id: string, body: DeviceRequest): Promise<DeviceView> {
  refuseWebhookUrls(deps.webhookAllowedHosts, ['subscription.endpoint', body.subscription?.endpoint]);
  if (!(await findRecipient(deps.db, tenantId, recipientId))) throw missing('Recipient');
  const row = await storeDevice(deps.db, { tenantId, recipientId, id, provider: body.provider, token: body.token ?? null, subscription: body.subscription ?? null, platform: body.platform ?? null });
  return presentDevice(row);
}

export async function listDevices(deps: Pick<DeviceDeps, 'db'>, tenantId: string, recipientId: string): Promise<DeviceView[]> {
  if (!(await findRecipient(deps.db, tenantId, recipientId))) throw missing('Recipient');
  return (await devicesOf(deps.db, tenantId, recipientId)).map(presentDevice);
}

export async function deleteDevice(deps: Pick<DeviceDeps, 'db'>, tenantId: string, recipientId: string, id: string): Promise<void> {
  if (!(await removeDevice(deps.db, tenantId, recipientId, id))) throw missing('Device');
}

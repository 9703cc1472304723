// Inputs for channel tests: a complete SendRequest with overridable fields, and a helper that
// returns what a send threw.
import type { SendRequest } from '../../activities/channels/types.js';

/** The tenant's webhook secret in sendRequest(): a Standard Webhooks `whsec_` secret (base64 of 24 bytes). */
export const TEST_WEBHOOK_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

export function sendRequest(overrides: Partial<SendRequest> = {}): SendRequest {
  return {
    deliveryId: 'dlv_01HZX3Q8J5',
    notificationId: 'ntf_01HZX3Q8J4',
    tenant: { id: 'ten_acme', webhookSecret: TEST_WEBHOOK_SECRET },
    recipient: {
      id: 'user-42',
      email: 'ann@example.com',
      phone: '+14155550123',
      slack: 'C0123456789',
      webhookUrl: null,
      pagerRoutingKey: 'R0UTINGKEY0000000000000000000001',
      whatsapp: null,
      telegramChatId: null,
      locale: 'en',
      timezone: 'UTC',
      name: 'Ann',
    },
    address: 'ann@example.com',
    template: { key: 'order-shipped', version: 3 },
    content: {
      email: { subject: 'Order 7 shipped', html: '<p>Hi Ann</p>', text: 'Hi Ann' },
      sms: { text: 'Order 7 shipped' },
      slack: { text: 'Order *7* shipped' },
      webhook: { orderId: 7 },
      pager: { summary: 'Order 7 shipped' },
    },
    data: { order: { id: 7 } },
    category: 'orders',
    signal: new AbortController().signal,
    ...overrides,
  };
}

/** Awaits a promise that must reject and returns the rejection. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

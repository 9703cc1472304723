// The bare workflow's activity: one POST through Tocsin's own webhook sender (same body,
// signature and HTTP client), so the two sides of the benchmark differ only in what
// Tocsin does around the provider call.
import { Context } from '@temporalio/activity';
import { createWebhookSender } from '../activities/channels/webhook.js';
import { newWebhookSecret } from '../usecases/ids.js';

export function createBareActivities(opts: { webhookAllowedHosts?: readonly string[] } = {}) {
  const webhook = createWebhookSender({ allowedHosts: opts.webhookAllowedHosts });
  const webhookSecret = newWebhookSecret();
  return {
    async post(input: { id: string; url: string; data: Record<string, unknown> }): Promise<void> {
      await webhook.send({
        deliveryId: `${input.id}:webhook`,
        notificationId: input.id,
        tenant: { id: 'bench', webhookSecret },
        recipient: { id: 'r1', email: null, phone: null, slack: null, webhookUrl: input.url, pagerRoutingKey: null, whatsapp: null, telegramChatId: null, locale: 'en', timezone: 'UTC', name: null },
        address: input.url,
        template: { key: 'bench', version: 1 },
        content: { webhook: { event: 'bench' } },
        data: input.data,
        category: null,
        signal: Context.current().cancellationSignal,
      });
    },
  };
}

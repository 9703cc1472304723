// A webhook URL given to the API is checked as far as it can be without DNS (scheme, user
// info, literal address: usecases/webhook-address.ts); a host name is checked when a send
// resolves it. Refusals are 400s naming the field.
import { checkWebhookUrl, parseAllowList, type WebhookAllowList } from '../usecases/webhook-address.js';
import { badRequest } from './problem.js';

export function webhookUrlGuard(allowedHosts: readonly string[] | undefined) {
  const allow: WebhookAllowList = parseAllowList(allowedHosts);
  /** Throws a 400 naming `path` when `url` may not receive webhooks. */
  return (url: string | null | undefined, path: string) => {
    if (!url) return;
    const target = checkWebhookUrl(url, allow);
    if (target.ok) return;
    const message = `${target.reason}: webhooks may not reach loopback, private, link-local, CGNAT, multicast or reserved addresses (the operator can allow some with WEBHOOK_ALLOWED_HOSTS)`;
    throw badRequest(`${path}: ${message}`, [{ path, message }]);
  };
}

// A webhook URL given to the API is checked as far as it can be without DNS (scheme, user
// info, literal address: usecases/webhook-address.ts); a host name is checked when a send
// resolves it. Refusals are 400s naming the field.
import { checkWebhookUrl, parseAllowList, type WebhookAllowList } from '../usecases/webhook-address.js';
import { badRequest, type FieldError } from './problem.js';

export function webhookUrlGuard(allowedHosts: readonly string[] | undefined) {
  const allow: WebhookAllowList = parseAllowList(allowedHosts);
  /** The refusal of `url`, named `path`, when it may not receive webhooks. */
  const refusal = (url: string | null | undefined, path: string): FieldError | undefined => {
    if (!url) return undefined;
    const target = checkWebhookUrl(url, allow);
    if (target.ok) return undefined;
    return { path, message: `${target.reason}: webhooks may not reach loopback, private, link-local, CGNAT, multicast or reserved addresses (the operator can allow some with WEBHOOK_ALLOWED_HOSTS)` };
  };
  /** Throws one 400 naming every refused URL, given as [field path, URL] pairs. */
  return (...urls: Array<[path: string, url: string | null | undefined]>) => {
    const errors = urls.map(([path, url]) => refusal(url, path)).filter((e): e is FieldError => e !== undefined);
    if (errors.length > 0) throw badRequest(errors.map((e) => `${e.path}: ${e.message}`).join('; '), errors);
  };
}

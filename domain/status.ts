// Status rules: how delivery outcomes add up to a notification's final status.
import type { DeliveryStatus, NotificationStatus, Strategy } from './types.js';

const SENT: readonly DeliveryStatus[] = ['sent', 'delivered'];

/**
 * `sent` when every attempted channel was sent, `failed` when none was, `partially_sent`
 * in between; `suppressed` when preferences left nothing to attempt. With `first-success`
 * one sent channel is the goal: the failures before it were fallbacks, and it is `sent`.
 */
export function finalStatus(deliveries: readonly DeliveryStatus[], cancelled: boolean, strategy: Strategy = 'all'): NotificationStatus {
  const attempted = deliveries.filter((s) => s !== 'skipped' && s !== 'pending');
  const sent = attempted.filter((s) => SENT.includes(s)).length;
  if (cancelled && sent === 0) return 'cancelled';
  if (attempted.length === 0) return 'suppressed';
  if (sent === 0) return attempted.every((s) => s === 'cancelled') ? 'cancelled' : 'failed';
  if (strategy === 'first-success') return 'sent';
  const failed = attempted.filter((s) => !SENT.includes(s) && s !== 'cancelled').length;
  if (failed === 0 && !attempted.includes('cancelled')) return 'sent';
  return 'partially_sent';
}

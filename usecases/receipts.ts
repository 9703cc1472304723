// Delivery receipts: what a provider reports of a message we sent, applied to its delivery.
// Every receipt is recorded under a provider-unique id before it is applied, in one
// transaction, so a duplicate changes nothing. A receipt only moves a delivery forward:
// sent → delivered | failed | bounced, and delivered → bounced (an asynchronous bounce can follow
// the receiving server's acceptance); a late `sent` or `delivered` never undoes a final status.
import type { Db } from '../db/client.js';
import { recordReceipt, type DeliveryChange, type ReceiptSuppression } from '../db/receipts.js';
import { cleanText } from '../domain/text.js';
import type { DeliveryStatus } from '../domain/types.js';

/** What a receipt does to its delivery; null: recorded, nothing changes. */
export type Change = DeliveryChange;
export type { ReceiptSuppression };

/** The statuses each change may leave: nothing moves backwards or out of another final status. */
const MOVABLE_FROM: Record<Change['status'], DeliveryStatus[]> = {
  delivered: ['pending', 'sending', 'sent'],
  failed: ['pending', 'sending', 'sent'],
  bounced: ['pending', 'sending', 'sent', 'delivered'],
};

interface Receipt {
  /** Unique per provider event: duplicates of it change nothing. */
  id: string;
  provider: 'twilio' | 'resend';
  providerMessageId: string;
  /** The provider's own status or event type, as recorded. */
  event: string;
  change: Change | null;
  /** Addresses not to send to again (a hard bounce, a complaint): suppressed for the delivery's tenant. */
  suppress?: ReceiptSuppression | null;
}

/** applied: the delivery moved; unchanged: nothing to move (or already further on); unmatched: no delivery has that message id (yet). */
export type ReceiptOutcome = 'applied' | 'unchanged' | 'duplicate' | 'unmatched' | 'ignored';

/** A receipt's provider text (ids, statuses, bounce messages) as the database can hold it. */
function cleanReceipt(r: Receipt): Receipt {
  const change = r.change && r.change.status !== 'delivered' ? { ...r.change, error: { code: cleanText(r.change.error.code, 100), message: cleanText(r.change.error.message) } } : r.change;
  return { ...r, id: cleanText(r.id, 300), providerMessageId: cleanText(r.providerMessageId, 255), event: cleanText(r.event, 100), change };
}

/**
 * Applies a provider's receipt: recorded once (a duplicate changes nothing), and its delivery
 * only moves forward (MOVABLE_FROM).
 */
export async function applyReceipt(db: Db, receipt: Receipt): Promise<ReceiptOutcome> {
  const r = cleanReceipt(receipt);
  return recordReceipt(db, r, r.change ? MOVABLE_FROM[r.change.status] : []);
}

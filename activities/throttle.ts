// Throttles: the workflow claims a slot of a sliding window (db/throttles.ts) before it sends.
import type { Db } from '../db/client.js';
import { claimThrottleSlot as claimSlot, type ThrottleClaim } from '../db/throttles.js';

export type { ThrottleClaim };

export function createThrottleActivities({ db }: { db: Db }) {
  /** Takes one of the throttle's slots in the window ending at the claim's time; a retried claim that was taken answers allowed again. */
  async function claimThrottleSlot(c: ThrottleClaim): Promise<{ allowed: boolean }> {
    return claimSlot(db, c);
  }

  return { claimThrottleSlot };
}

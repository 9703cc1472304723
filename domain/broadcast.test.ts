import { describe, expect, it } from 'vitest';
import { broadcastCounts, broadcastNotificationId } from './broadcast.js';

describe('broadcast counts', () => {
  it('adds notifications up by status; those not started yet are pending', () => {
    expect(broadcastCounts(10, { sent: 3, partially_sent: 1, failed: 1, suppressed: 2, held: 1, sending: 1 }, 'running')).toEqual({
      total: 10,
      sent: 4,
      failed: 1,
      suppressed: 2,
      cancelled: 0,
      pending: 3,
    });
  });

  it('once cancelled, recipients never started count as cancelled', () => {
    expect(broadcastCounts(10, { sent: 4, cancelled: 2 }, 'cancelled')).toMatchObject({ sent: 4, cancelled: 6, pending: 0 });
  });

  it('names each recipient notification by position', () => {
    expect(broadcastNotificationId('bc_0abc', 42)).toBe('ntf_0abc_42');
  });
});

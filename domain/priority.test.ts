import { describe, expect, it } from 'vitest';
import { BULK_PRIORITY_KEY, broadcastPriority, incidentPriority, notificationPriority, parseFairnessWeights, PRIORITY_LEVELS } from './priority.js';
import { PRIORITIES } from './types.js';

describe('priority lanes', () => {
  it('orders critical before high before normal before low, and broadcast recipients after all of them', () => {
    const keys = (['critical', 'high', 'normal', 'low'] as const).map((priority) => notificationPriority({ tenantId: 't', priority }).priorityKey);
    expect(keys).toEqual([1, 2, 3, 4]);
    for (const priority of PRIORITIES) expect(notificationPriority({ tenantId: 't', priority }, { bulk: true }).priorityKey).toBe(BULK_PRIORITY_KEY);
    expect(broadcastPriority({ tenantId: 't' }).priorityKey).toBe(BULK_PRIORITY_KEY);
    expect(BULK_PRIORITY_KEY).toBeLessThanOrEqual(PRIORITY_LEVELS);
    expect(incidentPriority({ tenantId: 't' }).priorityKey).toBe(1);
  });

  it('makes the tenant the fairness key, with a weight only for a weighted tenant', () => {
    const weights = parseFairnessWeights('{"acme":3,"plain":1}');
    expect(notificationPriority({ tenantId: 'acme', priority: 'normal' }, { weights })).toEqual({ priorityKey: 3, fairnessKey: 'acme', fairnessWeight: 3 });
    expect(notificationPriority({ tenantId: 'plain', priority: 'normal' }, { weights })).toEqual({ priorityKey: 3, fairnessKey: 'plain' });
    expect(notificationPriority({ tenantId: 'other', priority: 'low' }, { weights })).toEqual({ priorityKey: 4, fairnessKey: 'other' });
  });

  it('refuses weights that are not positive numbers', () => {
    expect(parseFairnessWeights(undefined)).toEqual({});
    expect(parseFairnessWeights(' ')).toEqual({});
    expect(() => parseFairnessWeights('{"acme":0}')).toThrow(/acme/);
    expect(() => parseFairnessWeights('{"acme":"2"}')).toThrow(/acme/);
    expect(() => parseFairnessWeights('[1]')).toThrow();
  });
});

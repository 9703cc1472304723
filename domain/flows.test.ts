import { describe, expect, it } from 'vitest';
import { RequestError } from './errors.js';
import { flowChannels, initialStepStates, MAX_FLOW_DEPTH, MAX_FLOW_STEPS, parseFlowSteps } from './flows.js';

const send = (id: string, channels = ['inapp']) => ({ id, type: 'send', channels, template: 't' });

function refusal(steps: unknown) {
  try {
    parseFlowSteps(steps);
  } catch (err) {
    expect(err).toBeInstanceOf(RequestError);
    return (err as RequestError).errors;
  }
  throw new Error('accepted');
}

describe('parseFlowSteps', () => {
  it('accepts a nested flow and lists its steps depth first, each pending', () => {
    const steps = parseFlowSteps([
      send('a'),
      { id: 'w', type: 'wait', for: 'read', timeoutSeconds: 60 },
      { id: 'b', type: 'branch', if: 'steps.w.outcome == "timed_out"', then: [send('c', ['email'])], else: [{ id: 'd', type: 'delay', until: 'timestamp(data.at)' }] },
    ]);
    expect(initialStepStates(steps).map((s) => [s.id, s.status])).toEqual([
      ['a', 'pending'],
      ['w', 'pending'],
      ['b', 'pending'],
      ['c', 'pending'],
      ['d', 'pending'],
    ]);
    expect(flowChannels(steps)).toEqual(['inapp', 'email']);
  });

  it(`bounds the step count (${MAX_FLOW_STEPS}) and the nesting (${MAX_FLOW_DEPTH})`, () => {
    const many = Array.from({ length: MAX_FLOW_STEPS + 1 }, (_, i) => ({ id: `d${i}`, type: 'delay', seconds: 1 }));
    expect(refusal(many)).toEqual([{ path: `steps.${MAX_FLOW_STEPS}`, message: `a flow has at most ${MAX_FLOW_STEPS} steps` }]);
    let nested: any[] = [{ id: 'leaf', type: 'delay', seconds: 1 }];
    for (let i = 0; i < MAX_FLOW_DEPTH; i++) nested = [{ id: `b${i}`, type: 'branch', if: 'true', then: nested }];
    expect(refusal(nested).map((e) => e.message)).toEqual([`branches nest at most ${MAX_FLOW_DEPTH} deep`]);
  });

  it('names each wrong step: wait for read before any in-app send, a channel twice on one path, unknown type, digest', () => {
    const errors = refusal([
      { id: 'w', type: 'wait', for: 'read', timeoutSeconds: 60 },
      send('a', ['email']),
      { id: 'b', type: 'branch', if: 'true', then: [send('c', ['email'])], else: [send('d', ['email'])] },
    ]);
    expect(errors.map((e) => e.path)).toEqual(['steps.0.for', 'steps.2.then.0.channels', 'steps.2.else.0.channels']);
    expect(refusal([{ id: 'x', type: 'loop' }]).map((e) => e.path)).toEqual(['steps.0.type']);
    expect(refusal([{ id: 'x', type: 'digest' }])[0].message).toContain('not supported');
    expect(refusal([{ id: 'x', type: 'delay', until: '1 + 1', seconds: 3 }]).map((e) => e.path)).toEqual(['steps.0']);
  });
});

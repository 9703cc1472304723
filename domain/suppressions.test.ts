import { describe, expect, it } from 'vitest';
import { inboundKeyword } from './suppressions.js';

describe('inbound keywords', () => {
  it('reads the opt-out words in any case, with surrounding and doubled spaces', () => {
    for (const word of ['STOP', 'stopall', 'Unsubscribe', 'cancel', 'END', 'quit', 'revoke', 'OPT OUT', '  opt   out ', '\tStop\n']) expect(inboundKeyword(word), word).toBe('stop');
  });
  it('reads START and UNSTOP as opting in, HELP and INFO as help', () => {
    expect(['START', ' unstop '].map(inboundKeyword)).toEqual(['start', 'start']);
    expect(['help', 'INFO'].map(inboundKeyword)).toEqual(['help', 'help']);
  });
  it('reads nothing into other messages', () => {
    for (const body of ['', 'stop it', 'please stop', 'STOP!', 'optout', 'yes', 'Thanks']) expect(inboundKeyword(body), body).toBeNull();
  });
});

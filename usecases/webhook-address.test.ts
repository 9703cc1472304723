import { describe, expect, it } from 'vitest';
import { blockedRange, checkWebhookUrl, parseAllowList, refuseAddress } from './webhook-address.js';

describe('blockedRange', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['100.127.255.254', 'carrierGradeNat'],
    ['224.0.0.1', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'linkLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['fd12:3456::1', 'uniqueLocal'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:169.254.169.254', 'linkLocal'],
    ['2001:db8::1', 'reserved'],
    ['not-an-ip', 'invalid'],
  ])('%s is %s', (address, range) => {
    expect(blockedRange(address)).toBe(range);
  });

  it.each(['93.184.215.14', '8.8.8.8', '100.63.255.255', '100.128.0.1', '2606:4700::1111', '::ffff:8.8.8.8'])('%s is public', (address) => {
    expect(blockedRange(address)).toBeUndefined();
  });
});

describe('parseAllowList / refuseAddress', () => {
  const allow = parseAllowList(' localhost , 127.0.0.1,10.0.0.0/8, fd00::/8,[::1],Hooks.Internal. ');

  it('reads hosts, addresses and CIDR ranges', () => {
    expect([...allow.hosts].sort()).toEqual(['hooks.internal', 'localhost']);
    expect(allow.ranges.map(([ip, bits]) => `${ip.toString()}/${bits}`)).toEqual(['127.0.0.1/32', '10.0.0.0/8', 'fd00::/8', '::1/128']);
  });

  it.each([
    ['127.0.0.1', true],
    ['::ffff:127.0.0.1', true],
    ['127.0.0.2', false],
    ['10.200.3.4', true],
    ['::ffff:10.200.3.4', true],
    ['11.0.0.1', true], // public: never refused
    ['192.168.0.1', false],
    ['fd00::5', true],
    ['fc00::5', false],
    ['::1', true],
    ['169.254.169.254', false],
  ])('%s allowed: %s', (address, allowed) => {
    expect(refuseAddress(address, allow) === undefined).toBe(allowed);
  });

  it('refuses an entry that is none of host, address or range', () => {
    expect(() => parseAllowList('10.0.0.0/33')).toThrow(/10\.0\.0\.0\/33/);
    expect(() => parseAllowList('http://x')).toThrow(/http:\/\/x/);
    expect(parseAllowList('').ranges).toEqual([]);
  });
});

describe('checkWebhookUrl', () => {
  it.each([
    ['http://127.0.0.1:8080/x', /127\.0\.0\.1 \(loopback\)/],
    ['http://[::1]/x', /::1 \(loopback\)/],
    ['http://[::ffff:127.0.0.1]/x', /loopback/],
    ['http://0x7f.1/x', /127\.0\.0\.1 \(loopback\)/], // URL normalises odd IPv4 forms
    ['http://2130706433/x', /loopback/],
    ['http://169.254.169.254/latest/meta-data', /linkLocal/],
    ['http://100.64.1.1/', /carrierGradeNat/],
    ['http://[fe80::1]/', /linkLocal/],
    ['http://[fd00::1]/', /uniqueLocal/],
    ['http://0.0.0.0/', /unspecified/],
    ['https://user:secret@example.com/', /user info/],
    ['https://user@example.com/', /user info/],
    ['ftp://example.com/', /only http and https/],
    ['file:///etc/passwd', /only http and https/],
    ['nonsense', /not a URL/],
  ])('%s is refused', (url, reason) => {
    const r = checkWebhookUrl(url);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it('passes names (checked when resolved) and public literals', () => {
    expect(checkWebhookUrl('https://hooks.example.com/x')).toMatchObject({ ok: true, host: 'hooks.example.com', hostAllowed: false });
    expect(checkWebhookUrl('http://localhost:9/x')).toMatchObject({ ok: true, host: 'localhost' });
    expect(checkWebhookUrl('http://93.184.215.14/x')).toMatchObject({ ok: true, literal: '93.184.215.14' });
    expect(checkWebhookUrl('http://[2606:4700::1111]/x')).toMatchObject({ ok: true, literal: '2606:4700::1111' });
  });

  it('the allow list exempts literal addresses and ranges, never user info or schemes', () => {
    const allow = parseAllowList('127.0.0.1,192.168.0.0/16,localhost');
    expect(checkWebhookUrl('http://127.0.0.1:3000/x', allow).ok).toBe(true);
    expect(checkWebhookUrl('http://192.168.7.7/x', allow).ok).toBe(true);
    expect(checkWebhookUrl('http://10.0.0.1/x', allow).ok).toBe(false);
    expect(checkWebhookUrl('http://LOCALHOST./x', allow)).toMatchObject({ ok: true, hostAllowed: true });
    expect(checkWebhookUrl('http://a:b@127.0.0.1/x', allow).ok).toBe(false);
    expect(checkWebhookUrl('gopher://127.0.0.1/x', allow).ok).toBe(false);
  });
});

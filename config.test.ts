import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

describe('loadConfig', () => {
  it('applies the contract defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ PORT: 3000, HOST: '127.0.0.1', DATA_DIR: './.data', TEMPORAL_NAMESPACE: 'default', TEMPORAL_TASK_QUEUE: 'notifications', TEMPORAL_DEV_PORT: 7233, TEMPORAL_UI_PORT: 8233 });
    expect(c.DATABASE_URL).toBeUndefined();
    expect(c.publicBaseUrl).toBe('http://127.0.0.1:3000');
  });
  it('treats empty values as unset and parses per-channel retry overrides', () => {
    const c = loadConfig({ DATABASE_URL: '', DELIVERY_RETRY_OVERRIDES: '{"sms":{"maximumAttempts":3}}' });
    expect(c.DATABASE_URL).toBeUndefined();
    expect(c.DELIVERY_RETRY_OVERRIDES).toEqual({ sms: { maximumAttempts: 3 } });
  });
  it('refuses invalid settings with a message naming them', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ DELIVERY_RETRY_OVERRIDES: '{"fax":{}}' })).toThrow(/DELIVERY_RETRY_OVERRIDES/);
    expect(() => loadConfig({ WEBHOOK_ALLOWED_HOSTS: '10.0.0.0/99' })).toThrow(/WEBHOOK_ALLOWED_HOSTS.*10\.0\.0\.0\/99/);
    expect(() => loadConfig({ RATE_LIMIT_PER_SECOND: '100', RATE_LIMIT_BURST: '50' })).toThrow(/RATE_LIMIT_BURST/);
    expect(() => loadConfig({ TENANT_FAIRNESS_WEIGHTS: '{"acme":-1}' })).toThrow(/TENANT_FAIRNESS_WEIGHTS/);
  });
  it('reads tenant fairness weights', () => {
    expect(loadConfig({}).TENANT_FAIRNESS_WEIGHTS).toEqual({});
    expect(loadConfig({ TENANT_FAIRNESS_WEIGHTS: '{"acme":3}' }).TENANT_FAIRNESS_WEIGHTS).toEqual({ acme: 3 });
  });
  it('reads the webhook allow list and the rate limits', () => {
    expect(loadConfig({})).toMatchObject({ WEBHOOK_ALLOWED_HOSTS: [], RATE_LIMIT_PER_SECOND: 1000, RATE_LIMIT_BURST: 2000 });
    expect(loadConfig({ WEBHOOK_ALLOWED_HOSTS: ' localhost, 127.0.0.1 ,10.0.0.0/8,' }).WEBHOOK_ALLOWED_HOSTS).toEqual(['localhost', '127.0.0.1', '10.0.0.0/8']);
  });
  it('reads the telemetry settings: log level (warn under vitest), format, SDK metrics port, OTLP endpoint', () => {
    const c = loadConfig({});
    expect([c.LOG_LEVEL, c.LOG_FORMAT, c.TEMPORAL_METRICS_PORT, c.OTEL_EXPORTER_OTLP_ENDPOINT, c.OTEL_SERVICE_NAME]).toEqual(['info', undefined, undefined, undefined, 'tocsin']);
    expect(loadConfig({ VITEST: 'true' }).LOG_LEVEL).toBe('warn');
    expect(loadConfig({ VITEST: 'true', LOG_LEVEL: 'debug', LOG_FORMAT: 'pretty' })).toMatchObject({ LOG_LEVEL: 'debug', LOG_FORMAT: 'pretty' });
    const blank = loadConfig({ LOG_LEVEL: '', LOG_FORMAT: ' ', TEMPORAL_METRICS_PORT: '' });
    expect([blank.LOG_LEVEL, blank.LOG_FORMAT, blank.TEMPORAL_METRICS_PORT]).toEqual(['info', undefined, undefined]);
    expect(loadConfig({ TEMPORAL_METRICS_PORT: '9464', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318' })).toMatchObject({ TEMPORAL_METRICS_PORT: 9464, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318' });
    expect(() => loadConfig({ LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL/);
    expect(() => loadConfig({ LOG_FORMAT: 'xml' })).toThrow(/LOG_FORMAT/);
    expect(() => loadConfig({ TEMPORAL_METRICS_PORT: '70000' })).toThrow(/TEMPORAL_METRICS_PORT/);
  });
});

describe('TOCSIN_ENCRYPTION_KEYS', () => {
  it('reads id:base64key lists, the first key first, and refuses a malformed one by name without echoing it', () => {
    const a = Buffer.alloc(32, 1).toString('base64');
    const b = Buffer.alloc(32, 2).toString('base64');
    expect(loadConfig({}).TOCSIN_ENCRYPTION_KEYS).toBeUndefined();
    expect(loadConfig({ TOCSIN_ENCRYPTION_KEYS: ' ' }).TOCSIN_ENCRYPTION_KEYS).toBeUndefined();
    expect(loadConfig({ TOCSIN_ENCRYPTION_KEYS: `new:${a},old:${b}` }).TOCSIN_ENCRYPTION_KEYS?.map((k) => k.id)).toEqual(['new', 'old']);
    const short = Buffer.alloc(20, 3).toString('base64');
    expect(() => loadConfig({ TOCSIN_ENCRYPTION_KEYS: `k1:${short}` })).toThrow(/TOCSIN_ENCRYPTION_KEYS: must be comma-separated id:base64key .*32 bytes/);
    expect(() => loadConfig({ TOCSIN_ENCRYPTION_KEYS: `k1:${short}` })).toThrow(expect.objectContaining({ message: expect.not.stringContaining(short) }));
  });
});

// The deployment as written (no Docker engine here): docker-compose.yml, the Dockerfile, the
// proxy's Caddyfile, Temporal's dynamic config and the lock file, parsed and checked for what
// `docker compose up --scale api=3` and `npm ci` need.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEV_SERVER_DYNAMIC_CONFIG } from '../worker/dev-server.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const read = (file: string) => readFileSync(join(root, file), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  restart?: string;
  ports?: string[];
  expose?: string[];
  volumes?: string[];
  container_name?: string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: unknown;
}
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const pkg = JSON.parse(read('package.json'));

/** The container path a `host:container[:mode]` volume mounts `hostPath` at, if it does. */
const mountOf = (s: Service, hostPath: string) =>
  s.volumes?.map((v) => v.split(':')).find(([host]) => resolve(root, host) === resolve(root, hostPath))?.[1];

describe('docker-compose.yml', () => {
  it('pins every image by an explicit tag', () => {
    for (const [name, s] of Object.entries(services)) {
      expect(s.image, name).toMatch(/^[\w./-]+:[\w.-]+$/);
      expect(s.image!.split(':').pop(), name).not.toBe('latest');
    }
    // The image compose builds is tagged with the package's version.
    expect(services.api.image).toBe(`tocsin:${pkg.version}`);
  });

  it('scales the API: no host port or fixed name on api, one proxy port in front of every replica', () => {
    expect(services.api.ports).toBeUndefined();
    expect(services.api.container_name).toBeUndefined();
    expect(services.worker.ports).toBeUndefined();
    expect(services.worker.container_name).toBeUndefined();
    expect(services.api.healthcheck).toBeDefined();
    const apiPort = services.api.environment!.PORT;

    const proxy = services.proxy;
    expect(proxy.image).toMatch(/^caddy:\d+\.\d+\.\d+/);
    expect(proxy.ports).toEqual(['${TOCSIN_PORT:-3000}:3000']);
    expect(proxy.depends_on?.api).toEqual({ condition: 'service_healthy' });
    // Only the proxy and the Temporal UI publish ports.
    expect(Object.entries(services).filter(([, s]) => s.ports).map(([n]) => n).sort()).toEqual(['proxy', 'temporal-ui']);

    // The proxy finds the replicas by DNS, again and again, and spreads requests over them.
    expect(mountOf(proxy, 'deploy/Caddyfile')).toBe('/etc/caddy/Caddyfile');
    const caddyfile = read('deploy/Caddyfile');
    expect(caddyfile).toMatch(/^:3000 \{/m);
    expect(caddyfile).toMatch(new RegExp(`dynamic a \\{\\s*name api\\s*port ${apiPort}\\s*refresh \\d+s\\s*\\}`));
    expect(caddyfile).toMatch(/lb_policy round_robin/);
  });

  it('runs the migrations once, in a job that the API and the workers wait for', () => {
    const migrate = services.migrate;
    expect(migrate.command).toEqual(['npm', 'run', 'migrate']);
    expect(pkg.scripts.migrate).toBe('tsx runtime/migrate.ts');
    expect(existsSync(join(root, 'runtime/migrate.ts'))).toBe(true);
    expect(migrate.restart).toBe('no');
    expect(migrate.depends_on).toEqual({ 'tocsin-db': { condition: 'service_healthy' } });
    expect(migrate.environment?.DATABASE_URL).toBe(services.api.environment?.DATABASE_URL);
    for (const name of ['api', 'worker']) expect(services[name].depends_on?.migrate, name).toEqual({ condition: 'service_completed_successfully' });
  });

  it('runs Temporal with priority and fairness on, as the dev server of npm start', () => {
    const temporal = services.temporal;
    const path = temporal.environment!.DYNAMIC_CONFIG_FILE_PATH;
    expect(mountOf(temporal, 'temporal/dynamicconfig.yaml')).toBe(path);
    const dynamic = parse(read('temporal/dynamicconfig.yaml')) as Record<string, Array<{ value: unknown }>>;
    expect(dynamic['matching.useNewMatcher']).toEqual([{ value: true }]);
    expect(dynamic['matching.enableFairness']).toEqual([{ value: true }]);
    for (const [key, value] of Object.entries(DEV_SERVER_DYNAMIC_CONFIG)) expect(dynamic[key], key).toEqual([{ value }]);
  });

  it('logs JSON, passes the OTLP endpoint on, and serves the workers\' Temporal SDK metrics', () => {
    for (const name of ['api', 'worker']) {
      expect(services[name].environment?.LOG_FORMAT, name).toBe('json');
      expect(services[name].environment?.OTEL_EXPORTER_OTLP_ENDPOINT, name).toBe('${OTEL_EXPORTER_OTLP_ENDPOINT:-}');
    }
    expect(services.worker.environment?.TEMPORAL_METRICS_PORT).toBe('9464');
    expect(services.worker.environment?.HOST).toBe('0.0.0.0');
    expect(services.worker.expose).toContain('9464');
  });

  it('links the dashboard to the Temporal UI it publishes', () => {
    const [, hostPort] = services['temporal-ui'].ports![0].split(':');
    expect(services.api.environment!.TEMPORAL_UI_URL).toBe(`\${TEMPORAL_UI_URL:-http://localhost:${hostPort}}`);
  });

  it('keeps the Temporal UI on loopback, decoding payloads through the codec server with the same keys everywhere', () => {
    const ui = services['temporal-ui'];
    expect(ui.ports).toHaveLength(1);
    expect(ui.ports![0]).toMatch(/^127\.0\.0\.1:\d+:8080$/);
    expect(ui.environment!.TEMPORAL_CODEC_ENDPOINT).toBe('${TEMPORAL_CODEC_ENDPOINT:-http://localhost:${TOCSIN_PORT:-3000}/codec}');
    expect(ui.environment!.TEMPORAL_CODEC_INCLUDE_CREDENTIALS).toBe('true');
    for (const name of ['api', 'worker', 'migrate']) expect(services[name].environment?.TOCSIN_ENCRYPTION_KEYS, name).toMatch(/^\$\{TOCSIN_ENCRYPTION_KEYS:\?/);
  });
});

describe('installs from the lock file', () => {
  it('with npm ci in the Dockerfile, from a pinned base image', () => {
    const dockerfile = read('Dockerfile');
    const from = dockerfile.match(/^FROM\s+(\S+)/m)![1];
    expect(from).toMatch(/^node:\d+\.\d+[\w.-]*$/);
    expect(dockerfile).toMatch(/^COPY package\.json package-lock\.json \.\/$/m);
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    expect(dockerfile).not.toMatch(/npm install/);
  });

  it('with npm ci in CI', () => {
    const ci = read('.ci/run');
    expect(ci).toMatch(/^npm ci\b/m);
    expect(ci).not.toMatch(/^\s*npm install/m);
  });

  it('whose root entry agrees with package.json (what npm ci checks before installing)', () => {
    const lock = JSON.parse(read('package-lock.json'));
    expect(lock.lockfileVersion).toBeGreaterThanOrEqual(2);
    expect(lock.packages[''].dependencies).toEqual(pkg.dependencies);
    expect(lock.packages[''].devDependencies).toEqual(pkg.devDependencies);
    // Every dependency is locked to a version.
    for (const name of [...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies)]) expect(lock.packages[`node_modules/${name}`]?.version, name).toBeDefined();
  });
});

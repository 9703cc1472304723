// The OpenAPI document without a server: the app over inert dependencies, whose routes publish
// their own schemas (nothing is called while the document is generated). GET /openapi.json serves
// the same document; `npm run client:generate` and the tests read it from here.
import { createApp } from './app.js';
import { DOCUMENT } from './contract.js';
import type { AppDeps } from './deps.js';

const inert = {
  db: {} as AppDeps['db'],
  temporal: { client: {} as AppDeps['temporal']['client'], taskQueue: 'openapi', ping: async () => {} },
  adminToken: 'openapi',
  channels: {} as AppDeps['channels'],
  retry: { initialIntervalSeconds: 1, backoffCoefficient: 2, maximumIntervalSeconds: 1, maximumAttempts: 1, expirationSeconds: 1 },
} satisfies AppDeps;

export function openApiDocument() {
  return createApp(inert).getOpenAPI31Document(DOCUMENT);
}

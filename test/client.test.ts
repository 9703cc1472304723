// The committed client (client/schema.ts) is what `npm run client:generate` makes of the document
// the routes publish now: a route whose schema changed without regenerating fails here.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLIENT_SCHEMA_FILE, clientSchema } from '../scripts/client-schema.js';

describe('typed client', () => {
  it('client/schema.ts matches the OpenAPI document (run `npm run client:generate` after changing a route)', async () => {
    const committed = readFileSync(CLIENT_SCHEMA_FILE, 'utf8');
    const generated = await clientSchema();
    expect(generated).toContain('"/v1/notifications"');
    expect(committed === generated, 'client/schema.ts is stale: run `npm run client:generate` and commit it').toBe(true);
  });
});

// `npm run client:generate`: writes client/schema.ts from the document the app generates.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CLIENT_SCHEMA_FILE, clientSchema } from './client-schema.js';

writeFileSync(CLIENT_SCHEMA_FILE, await clientSchema());
console.log(`wrote ${fileURLToPath(CLIENT_SCHEMA_FILE)}`);

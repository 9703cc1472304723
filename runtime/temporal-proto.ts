// Loads the Temporal SDK's protobuf definitions (@temporalio/proto) from their JSON, before the
// SDK loads them itself. The package ships them as one JavaScript module, protos/json-module.js,
// that hands a 1.4 MB object literal to protobufjs's Root#addJSON. On Node 24.20, V8's parse of
// that literal takes about 5 MB of malloc'd memory, and loading the package alone leaves 32 MB more
// resident than an empty process; JSON.parse of the same text into the same addJSON, 25 MB. An
// API's start-up peak fell from a median of 144 to 128 MB over eight rounds each, though spread
// wide (README: "An API's memory on Node 24.20").
//
// Imported for its effect, first: by runtime/api.ts, runtime/worker.ts and scripts/start.ts (under tsx, an
// import's module runs before the next import's), and by `--import` for the compiled processes
// (scripts/bundle-processes.ts: a bundle puts its packages' imports first). It puts the module's
// result into Node's require cache, so the SDK's `require('./json-module')` gets it as the
// module would have made it. Once the SDK has loaded the module, or when the package's text no
// longer has that shape, it does nothing and the SDK loads the module as before
// (runtime/temporal-proto.test.ts checks that it does load them, and the same as the module).
import { readFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';

const require = createRequire(import.meta.url);

/** Whether this call put the definitions into the require cache. */
export function preloadTemporalProto(): boolean {
  const path = createRequire(require.resolve('@temporalio/proto')).resolve('./json-module');
  if (require.cache[path]) return false;
  const source = readFileSync(path, 'utf8');
  const from = source.indexOf('.addJSON(');
  const to = source.lastIndexOf('});');
  if (from < 0 || to < from) return false;
  let json: unknown;
  try {
    json = JSON.parse(source.slice(from + '.addJSON('.length, to + 1));
  } catch {
    return false;
  }
  // What the module does with its literal, with the module's own protobufjs.
  const protobuf = createRequire(path)('protobufjs/light') as { roots: Record<string, { addJSON(json: unknown): unknown }>; Root: new () => { addJSON(json: unknown): unknown } };
  const root = (protobuf.roots.__temporal ??= new protobuf.Root()).addJSON(json);
  const module = new Module(path);
  module.filename = path;
  module.loaded = true;
  module.exports = root;
  require.cache[path] = module;
  return true;
}

/** Whether importing this module put the definitions into the require cache. */
export const preloaded = preloadTemporalProto();

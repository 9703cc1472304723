// Loads the Temporal SDK's protobuf definitions (@temporalio/proto) from their JSON, before the
// SDK loads them itself: about 20 MB less resident set in every API and worker process (README:
// "Throughput and memory on the cluster"). The package ships them as one JavaScript module,
// protos/json-module.js, that hands a 1.4 MB object literal to protobufjs's Root#addJSON; V8
// compiling that literal keeps about 31 MB resident, where JSON.parse of the same text and the
// same addJSON keep about 10.
//
// Imported for its effect, first: by runtime/api.ts and runtime/worker.ts (under tsx, an
// import's module runs before the next import's), and by `--import` for the compiled processes
// (scripts/bundle-processes.ts: a bundle puts its packages' imports first). It puts the module's
// result into Node's require cache, so the SDK's `require('./json-module')` gets it as the
// module would have made it. Once the SDK has loaded the module, or when the package's text no
// longer has that shape, it does nothing and the SDK loads the module as before
// (runtime/temporal-proto.test.ts checks the result is the module's).
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

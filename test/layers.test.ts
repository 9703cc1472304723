// The folders are the architecture, and their imports point down (README: "Architecture",
// house style "Imports point down"):
//   domain, telemetry ← db ← usecases ← api | activities | workflows | config.ts ← worker ← runtime ← scripts, bench, test
// A file may import its own folder and any folder of a lower rank, never one beside or above it:
// api and activities are siblings (the API and the workers reach the same use-cases, never each
// other). Workflows import only domain (and activity *types*, for proxyActivities); only the
// worker, the runtime and harnesses import workflows. No import cycles, type-only imports
// included. The API process (runtime/api.ts) never loads the worker.
// Only db/ builds SQL or names the schema's tables.
// The import graph is read with TypeScript's own parser from every .ts file git knows.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Rank of each layer: imports go to the same layer or a lower rank (siblings share a rank). */
const RANK: Record<string, number> = {
  domain: 0,
  telemetry: 0,
  db: 1,
  usecases: 2,
  api: 3,
  activities: 3,
  workflows: 3,
  'config.ts': 3,
  worker: 4,
  runtime: 5,
  scripts: 6,
  bench: 6,
  test: 6,
};
const TOP = 6;
/** The typed client stands alone: it imports only itself, and anything may import it. */
const STANDALONE = 'client';

interface Edge {
  from: string;
  to: string;
  /** `import type …` / `export type …`: erased at runtime. */
  typeOnly: boolean;
  /** `await import(…)`: loaded only when that code runs. */
  dynamic: boolean;
}

const layerOf = (file: string) => file.split('/')[0];
const isTest = (file: string) => /\.test\.ts$/.test(file);

function projectFiles(): string[] {
  return execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.ts', '*.mts'], { cwd: root, encoding: 'utf8' })
    .split('\n')
    .filter((f) => f && existsSync(join(root, f)) && !f.endsWith('.d.ts') && !f.endsWith('.d.mts'));
}

/** Every import and re-export of `file`, relative or by package name. */
function importsOf(file: string): Array<{ spec: string; typeOnly: boolean; dynamic: boolean }> {
  const source = ts.createSourceFile(file, readFileSync(join(root, file), 'utf8'), ts.ScriptTarget.Latest, true);
  const found: Array<{ spec: string; typeOnly: boolean; dynamic: boolean }> = [];
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly =
        !!clause &&
        (clause.isTypeOnly ||
          (!clause.name && !!clause.namedBindings && ts.isNamedImports(clause.namedBindings) && clause.namedBindings.elements.length > 0 && clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      found.push({ spec: node.moduleSpecifier.text, typeOnly, dynamic: false });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push({ spec: node.moduleSpecifier.text, typeOnly: node.isTypeOnly, dynamic: false });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteralLike(node.arguments[0])) {
      found.push({ spec: node.arguments[0].text, typeOnly: false, dynamic: true });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push({ spec: node.argument.literal.text, typeOnly: true, dynamic: false });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** A relative specifier as the project file it names (`./x.js` is `x.ts`). */
function resolve(from: string, spec: string, files: Set<string>): string | undefined {
  const base = normalize(join(dirname(from), spec));
  for (const candidate of [base, base.replace(/\.(m?)js$/, '.$1ts'), `${base}.ts`, join(base, 'index.ts')]) if (files.has(candidate)) return candidate;
  return undefined;
}

function graph() {
  const files = projectFiles();
  const known = new Set(files);
  const edges: Edge[] = [];
  const packages = new Map<string, Array<{ spec: string; typeOnly: boolean; dynamic: boolean }>>();
  const unresolved: string[] = [];
  for (const from of files) {
    const imports = importsOf(from);
    packages.set(from, imports.filter((i) => !i.spec.startsWith('.')));
    for (const i of imports.filter((i) => i.spec.startsWith('.'))) {
      const to = resolve(from, i.spec, known);
      if (to) edges.push({ from, to, typeOnly: i.typeOnly, dynamic: i.dynamic });
      else if (!/\.(json|mjs)$/.test(i.spec)) unresolved.push(`${from} → ${i.spec}`);
    }
  }
  return { files, edges, packages, unresolved };
}

function allowed(edge: Edge): boolean {
  const [from, to] = [layerOf(edge.from), layerOf(edge.to)];
  if (from === to) return true;
  if (to === STANDALONE) return true;
  if (from === STANDALONE) return false;
  if (from === 'workflows' && !isTest(edge.from)) return to === 'domain' || (to === 'activities' && edge.typeOnly);
  // Tests beside the code are harnesses, as test/ is: they may drive any layer (a route's test
  // runs the activity that feeds it).
  if (isTest(edge.from)) return true;
  const [rf, rt] = [RANK[from], RANK[to]];
  if (rf === undefined) return true; // top-level config files (vitest.config.ts, drizzle.config.ts)
  // Entry points and their harnesses (scripts, bench, test) may use each other.
  return rt !== undefined && (rt < rf || (rt === TOP && rf === TOP));
}

/** Strongly connected components with more than one file (or a file importing itself): cycles. */
function cycles(files: string[], edges: Edge[]): string[][] {
  const next = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const e of edges) next.get(e.from)!.push(e.to);
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const strong = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (next.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const f of files) if (!idx.has(f)) strong(f);
  return found;
}

describe('layers', () => {
  const { files, edges, packages, unresolved } = graph();

  it('reads the whole project', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(edges.length).toBeGreaterThan(300);
    expect(unresolved).toEqual([]);
  });

  it('every folder with code is a known layer', () => {
    const folders = new Set(files.filter((f) => f.includes('/')).map(layerOf));
    expect([...folders].filter((f) => RANK[f] === undefined && f !== STANDALONE)).toEqual([]);
  });

  it('imports point down', () => {
    const upward = edges.filter((e) => !allowed(e)).map((e) => `${e.from} → ${e.to}${e.typeOnly ? ' (type)' : ''}`);
    expect(upward).toEqual([]);
  });

  it('has no import cycles', () => {
    expect(cycles(files, edges)).toEqual([]);
  });

  it('only db/ builds SQL or reads the schema', () => {
    // Queries live in db/<aggregate>.ts with their row mappers; the layers above call them.
    const above = files.filter((f) => layerOf(f) !== 'db' && !isTest(f) && RANK[layerOf(f)] !== undefined && RANK[layerOf(f)] < TOP);
    const sql = above.filter((f) => (packages.get(f) ?? []).some((p) => /^drizzle-orm(\/|$)/.test(p.spec)));
    const schema = edges.filter((e) => above.includes(e.from) && e.to === 'db/schema.ts').map((e) => e.from);
    expect([...new Set([...sql, ...schema])].sort()).toEqual([]);
  });

  it('the API process never loads the worker runtime', () => {
    // What `npm run api` loads: runtime/api.ts and everything it imports at startup.
    const loaded = new Set<string>();
    const walk = (file: string) => {
      if (loaded.has(file)) return;
      loaded.add(file);
      for (const e of edges) if (e.from === file && !e.typeOnly && !e.dynamic) walk(e.to);
    };
    walk('runtime/api.ts');
    expect(loaded.has('runtime/index.ts')).toBe(true);
    // The routes come in by runtime/index.ts's import() when it serves the API (so a worker never
    // loads them); an API loads them and all they import.
    const routes = ['api/app.ts', 'api/inbox-streams.ts'];
    for (const r of routes) expect(edges.some((e) => e.from === 'runtime/index.ts' && e.to === r && e.dynamic && !e.typeOnly), r).toBe(true);
    for (const r of routes) walk(r);
    // Signal and update definitions (domain/workflow-messages.ts) are the API's to send; workflow code is not its to load.
    expect([...loaded].filter((f) => layerOf(f) === 'worker' || layerOf(f) === 'workflows')).toEqual([]);
    const workerPackages = [...loaded].flatMap((f) => (packages.get(f) ?? []).filter((p) => !p.typeOnly && !p.dynamic && p.spec.startsWith('@temporalio/worker')).map((p) => `${f} → ${p.spec}`));
    expect(workerPackages).toEqual([]);
  });

  it('the check itself catches an upward import and a cycle', () => {
    expect(allowed({ from: 'api/app.ts', to: 'worker/index.ts', typeOnly: false, dynamic: false })).toBe(false);
    // Siblings: the API and the activities never import each other; use-cases never import a workflow.
    expect(allowed({ from: 'api/routes/slack.ts', to: 'activities/channels/slack.ts', typeOnly: false, dynamic: false })).toBe(false);
    expect(allowed({ from: 'activities/index.ts', to: 'api/app.ts', typeOnly: true, dynamic: false })).toBe(false);
    expect(allowed({ from: 'worker/index.ts', to: 'workflows/index.ts', typeOnly: false, dynamic: false })).toBe(true);
    const loop = [
      { from: 'a/x.ts', to: 'a/y.ts', typeOnly: false, dynamic: false },
      { from: 'a/y.ts', to: 'a/x.ts', typeOnly: true, dynamic: false },
    ];
    expect(cycles(['a/x.ts', 'a/y.ts'], loop)).toEqual([['a/x.ts', 'a/y.ts']]);
  });
});

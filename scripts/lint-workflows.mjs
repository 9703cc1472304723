#!/usr/bin/env node
// Keeps workflow code deterministic: files under workflows/ and domain/ (which workflows
// import) may import only @temporalio/workflow, @temporalio/common, domain/ and each other,
// plus `import type` of anything (activity types). No Node built-ins, no I/O, no env.
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const DIRS = ['workflows', 'domain'];
const ALLOWED_PACKAGES = new Set(['@temporalio/workflow', '@temporalio/common', 'liquidjs', '@marcbachmann/cel-js']);
// liquidjs is used by domain/templates.ts, which workflows never import (checked below).
// @marcbachmann/cel-js is pure and deterministic (no clock, no randomness, no I/O): workflows reach it
// only through domain/cel.ts (flows' conditions).
const WORKFLOW_FORBIDDEN_LOCAL = ['domain/templates.ts'];
const BUILTINS = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
const FORBIDDEN_CODE = [
  [/\bprocess\.env\b/, 'reads process.env'],
  [/\bfetch\s*\(/, 'performs I/O (fetch)'],
  [/\brequire\s*\(/, 'uses require()'],
];

const problems = [];
for (const dir of DIRS) {
  for (const name of readdirSync(join(root, dir))) {
    if (!name.endsWith('.ts') || name.endsWith('.test.ts') || name.endsWith('.d.ts')) continue;
    const file = join(dir, name);
    const src = readFileSync(join(root, file), 'utf8');
    const importRe = /^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm;
    for (const m of src.matchAll(importRe)) {
      const typeOnly = Boolean(m[2]);
      const spec = m[3] ?? m[4];
      if (typeOnly) continue;
      if (BUILTINS.has(spec)) problems.push(`${file}: imports the Node built-in '${spec}'`);
      else if (spec.startsWith('.')) {
        const target = relative(root, join(root, dir, spec)).replace(/\.js$/, '.ts');
        if (!DIRS.some((d) => target.startsWith(`${d}/`)))
          problems.push(`${file}: imports '${spec}' outside workflows/ and domain/ (use \`import type\` for activity types)`);
        if (dir === 'workflows' && WORKFLOW_FORBIDDEN_LOCAL.includes(target))
          problems.push(`${file}: imports ${target}, which is not workflow-safe`);
      } else if (!ALLOWED_PACKAGES.has(spec) || (dir === 'workflows' && (spec === 'liquidjs' || spec === '@marcbachmann/cel-js'))) {
        problems.push(`${file}: imports the package '${spec}'`);
      }
    }
    for (const [re, what] of FORBIDDEN_CODE) if (re.test(src.replace(/\/\/.*$/gm, ''))) problems.push(`${file}: ${what}`);
  }
}
if (problems.length) {
  console.error(`Workflow lint failed:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`Workflow lint: ${DIRS.join('/, ')}/ are free of Node built-ins and I/O.`);

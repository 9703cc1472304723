// Template lookups that acceptance, previews and deliveries share. A version never changes
// once published, so versions are cached by (tenant, key, version), in at most
// VERSION_CACHE_BYTES (estimated); only "which version is the latest" is read from the
// database each time. Their parsed form and variables are cached by domain/templates.ts.
import type { Db } from '../db/client.js';
import { insertTemplate, insertTemplateVersion, latestTemplateVersion, templateVersionRow, type TemplateVersionRow } from '../db/templates.js';
import { conflictWith, invalidInput } from '../domain/errors.js';
import { byteLru } from '../domain/lru.js';
import { missingVariables, selectLocale, TemplateRenderError, TemplateSyntaxError, validateTemplateContent } from '../domain/templates.js';
import { CHANNELS, type Channel, type ChannelContent, type TemplateContent } from '../domain/types.js';

export type { TemplateVersionRow };

/** Bytes the cache of template versions may hold: sixteen of the largest versions (1 MiB of JSON each), thousands of ordinary ones. */
const VERSION_CACHE_BYTES = 32 * 1024 * 1024;
/** A version's heap size, estimated: two bytes per character of its content's JSON, and its row. */
const versionBytes = (key: string, row: TemplateVersionRow) => 2 * (key.length + JSON.stringify(row.content).length) + 512;
const versions = byteLru<string, TemplateVersionRow>(VERSION_CACHE_BYTES, versionBytes);
const cacheKey = (tenantId: string, key: string, version: number) => `${tenantId}\u0000${key}\u0000${version}`;

/** One published version of a template, or null; served from the cache after the first read. */
export async function loadTemplateVersion(db: Db, tenantId: string, key: string, version: number): Promise<TemplateVersionRow | null> {
  const ck = cacheKey(tenantId, key, version);
  const hit = versions.get(ck);
  if (hit) return hit;
  const row = await templateVersionRow(db, tenantId, key, version);
  if (row) versions.set(ck, row);
  return row ?? null;
}

/** The pinned version of a template (latest when `version` is omitted), or null. */
export async function findTemplateVersion(db: Db, tenantId: string, key: string, version?: number): Promise<TemplateVersionRow | null> {
  if (version === undefined) {
    version = await latestTemplateVersion(db, tenantId, key);
    if (version === undefined) return null;
  }
  return loadTemplateVersion(db, tenantId, key, version);
}

/** Channels a template version has content for in the locale a recipient would get. */
export function contentFor(row: TemplateVersionRow, locale: string) {
  const chosen = selectLocale(row.content, locale, row.defaultLocale);
  const content = row.content[chosen] ?? {};
  return { locale: chosen, content, channels: CHANNELS.filter((ch) => content[ch] !== undefined) as Channel[] };
}

export function missingVariablesError(missing: string[]) {
  return invalidInput(
    `The template needs ${missing.map((m) => `{{ ${m} }}`).join(', ')}, which data lacks`,
    missing.map((m) => ({ path: `data.${m}`, message: 'missing template variable' })),
  );
}

/**
 * Variables the channels' content needs and `data` lacks. A stored version that does not
 * parse (one published before templates were Liquid) is refused as the request's template.
 */
export function missingTemplateVariables(content: ChannelContent, channels: readonly Channel[], data: unknown): string[] {
  try {
    return missingVariables(content, channels, data);
  } catch (err) {
    if (!(err instanceof TemplateSyntaxError)) throw err;
    throw invalidInput(`The template does not parse (${err.path}: ${err.message}); publish a new version`, [
      { path: 'template', message: `${err.path} does not parse` },
    ]);
  }
}

/** Content every locale of which parses and renders within the bounds, with content for its default locale; else a 400. */
function checkContent(content: TemplateContent, defaultLocale: string) {
  if (!Object.keys(content).some((l) => l.toLowerCase() === defaultLocale.toLowerCase()))
    throw invalidInput(`defaultLocale ${defaultLocale} has no content`, [{ path: 'defaultLocale', message: 'must be one of the content locales' }]);
  try {
    validateTemplateContent(content);
  } catch (err) {
    if (err instanceof TemplateSyntaxError) throw invalidInput(err.message, [{ path: err.path, message: err.message }]);
    if (err instanceof TemplateRenderError) throw invalidInput(err.message, [{ path: err.path, message: err.reason }]);
    throw err;
  }
}

/** Creates a template as its version 1; a key already taken is a conflict. */
export async function createTemplate(db: Db, tenantId: string, t: { key: string; defaultLocale: string; content: TemplateContent }): Promise<{ key: string; version: number }> {
  checkContent(t.content, t.defaultLocale);
  if (!(await insertTemplate(db, tenantId, t.key, t.defaultLocale, t.content)))
    throw conflictWith(`Template ${t.key} already exists; PUT /v1/templates/${t.key} publishes a new version`);
  return { key: t.key, version: 1 };
}

/** Publishes a template's next version (version 1 of a new template). */
export async function publishTemplate(db: Db, tenantId: string, key: string, t: { defaultLocale: string; content: TemplateContent }): Promise<{ key: string; version: number }> {
  checkContent(t.content, t.defaultLocale);
  return { key, version: await insertTemplateVersion(db, tenantId, key, t.defaultLocale, t.content) };
}

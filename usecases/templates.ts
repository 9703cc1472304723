// Template lookups that acceptance, previews and deliveries share. A version never changes
// once published, so versions are cached by (tenant, key, version), in at most
// VERSION_CACHE_BYTES (estimated); only "which version is the latest" is read from the
// database each time. Their parsed form and variables are cached by domain/templates.ts.
import { and, eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { templateVersions, templates } from '../db/schema.js';
import { invalidInput } from '../domain/errors.js';
import { byteLru } from '../domain/lru.js';
import { missingVariables, selectLocale, TemplateSyntaxError } from '../domain/templates.js';
import { CHANNELS, type Channel, type ChannelContent } from '../domain/types.js';

export type TemplateVersionRow = typeof templateVersions.$inferSelect;

/** Bytes the cache of template versions may hold: sixteen of the largest versions (1 MiB of JSON each), thousands of ordinary ones. */
export const VERSION_CACHE_BYTES = 32 * 1024 * 1024;
/** A version's heap size, estimated: two bytes per character of its content's JSON, and its row. */
const versionBytes = (key: string, row: TemplateVersionRow) => 2 * (key.length + JSON.stringify(row.content).length) + 512;
const versions = byteLru<string, TemplateVersionRow>(VERSION_CACHE_BYTES, versionBytes);
const cacheKey = (tenantId: string, key: string, version: number) => `${tenantId}\u0000${key}\u0000${version}`;

/** One published version of a template, or null; served from the cache after the first read. */
export async function loadTemplateVersion(db: Db, tenantId: string, key: string, version: number): Promise<TemplateVersionRow | null> {
  const ck = cacheKey(tenantId, key, version);
  const hit = versions.get(ck);
  if (hit) return hit;
  const [row] = await db
    .select()
    .from(templateVersions)
    .where(and(eq(templateVersions.tenantId, tenantId), eq(templateVersions.key, key), eq(templateVersions.version, version)));
  if (row) versions.set(ck, row);
  return row ?? null;
}

/** The pinned version of a template (latest when `version` is omitted), or null. */
export async function findTemplateVersion(db: Db, tenantId: string, key: string, version?: number): Promise<TemplateVersionRow | null> {
  if (version === undefined) {
    const [t] = await db
      .select({ latest: templates.latestVersion })
      .from(templates)
      .where(and(eq(templates.tenantId, tenantId), eq(templates.key, key)));
    if (!t) return null;
    version = t.latest;
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

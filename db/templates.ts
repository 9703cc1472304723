// Templates and their published versions: a version never changes once written; the template
// row holds which version is the latest.
import { and, eq, sql } from 'drizzle-orm';
import type { TemplateContent } from '../domain/types.js';
import type { Db } from './client.js';
import { templateVersions, templates } from './schema.js';

export type TemplateVersionRow = typeof templateVersions.$inferSelect;

export async function templateVersionRow(db: Db, tenantId: string, key: string, version: number): Promise<TemplateVersionRow | undefined> {
  const [row] = await db
    .select()
    .from(templateVersions)
    .where(and(eq(templateVersions.tenantId, tenantId), eq(templateVersions.key, key), eq(templateVersions.version, version)));
  return row;
}

/** The latest version number of a template, undefined when there is no such template. */
export async function latestTemplateVersion(db: Db, tenantId: string, key: string): Promise<number | undefined> {
  const [t] = await db
    .select({ latest: templates.latestVersion })
    .from(templates)
    .where(and(eq(templates.tenantId, tenantId), eq(templates.key, key)));
  return t?.latest;
}

/** Creates a template with its version 1; false when the key is taken. */
export async function insertTemplate(db: Db, tenantId: string, key: string, defaultLocale: string, content: TemplateContent): Promise<boolean> {
  return db.transaction(async (tx) => {
    const inserted = await tx.insert(templates).values({ tenantId, key, latestVersion: 1 }).onConflictDoNothing().returning({ key: templates.key });
    if (inserted.length === 0) return false;
    await tx.insert(templateVersions).values({ tenantId, key, version: 1, defaultLocale, content });
    return true;
  });
}

/** Publishes the next version (1 for a new template); concurrent publishes get consecutive versions. */
export async function insertTemplateVersion(db: Db, tenantId: string, key: string, defaultLocale: string, content: TemplateContent): Promise<number> {
  return db.transaction(async (tx) => {
    // Row lock through the update: concurrent publishes get consecutive versions.
    const [row] = await tx
      .update(templates)
      .set({ latestVersion: sql`${templates.latestVersion} + 1`, updatedAt: sql`now()` })
      .where(and(eq(templates.tenantId, tenantId), eq(templates.key, key)))
      .returning({ v: templates.latestVersion });
    const v = row?.v ?? 1;
    if (!row) await tx.insert(templates).values({ tenantId, key, latestVersion: 1 });
    await tx.insert(templateVersions).values({ tenantId, key, version: v, defaultLocale, content });
    return v;
  });
}

// zod validation for every input, failing as problem+json 400 naming each field.
import { zValidator } from '@hono/zod-validator';
import type { Context, ValidationTargets } from 'hono';
import type { z } from 'zod';
import { badRequest, fromZod } from './problem.js';

export function validate<T extends z.ZodType, Target extends keyof ValidationTargets>(target: Target, schema: T) {
  return zValidator(target, schema, (result) => {
    if (!result.success) throw fromZod(result.error, target === 'json' ? '' : target);
  });
}

/** The request's Idempotency-Key header, if any; 400 when it is empty or over 255 characters. */
export function idempotencyKeyOf(c: Context): string | undefined {
  const key = c.req.header('idempotency-key');
  if (key !== undefined && (key.length === 0 || key.length > 255))
    throw badRequest('Idempotency-Key must be 1–255 characters', [{ path: 'header.Idempotency-Key', message: 'must be 1–255 characters' }]);
  return key;
}

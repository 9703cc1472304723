// zod validation for every input, failing as problem+json 400 naming each field.
import { zValidator } from '@hono/zod-validator';
import type { ValidationTargets } from 'hono';
import type { z } from 'zod';
import { fromZod } from './problem.js';

export function validate<T extends z.ZodType, Target extends keyof ValidationTargets>(target: Target, schema: T) {
  return zValidator(target, schema, (result) => {
    if (!result.success) throw fromZod(result.error, target === 'json' ? '' : target);
  });
}

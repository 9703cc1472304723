// The one logger: pino, JSON lines (or pino-pretty on a terminal), secrets redacted. Lines
// logged inside a request carry its request id (withLogContext, api/telemetry.ts) and, with
// tracing on, the active trace and span ids; the
// Temporal SDK's lines (worker, workflows through their logger sink, activities) carry the
// workflow and activity ids the SDK attaches.
import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import { isSpanContextValid, trace } from '@opentelemetry/api';
import type { Logger as TemporalLogger, LogLevel as TemporalLogLevel, LogMetadata } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { pino, stdSerializers, type DestinationStream, type Logger as PinoLogger } from 'pino';
import type PinoPretty from 'pino-pretty';

/** pino-pretty, loaded only for LOG_FORMAT=pretty: a JSON-logging process never holds it. */
const pretty = (opts: PinoPretty.PrettyOptions) => (createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty)(opts);

export type Logger = PinoLogger;
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = 'json' | 'pretty';

interface LogOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go (tests capture them); default stdout. */
  destination?: DestinationStream;
}

/** Field names whose values never reach a log line, at any of the first three depths. */
const SECRET_KEYS = [
  'authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'apiKey',
  'api_key',
  'token',
  'adminToken',
  'accessToken',
  'botToken',
  'authToken',
  'secret',
  'webhookSecret',
  'signingSecret',
  'password',
  'routing_key',
  'routingKey',
];
const REDACT_PATHS = SECRET_KEYS.flatMap((k) => {
  const key = /^[A-Za-z_$][\w$]*$/.test(k) ? k : `["${k}"]`;
  const sep = key.startsWith('[') ? '' : '.';
  return [key, `*${sep}${key}`, `*.*${sep}${key}`];
});

/** Secret-shaped substrings of free text (messages, error messages and stacks). */
const SECRET_PATTERNS: Array<[RegExp, string]> = [
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [REDACTED]'],
  // whsec_ secrets are standard base64 (Standard Webhooks), the others base64url.
  [/\b(tsk|whsec|adm)_[A-Za-z0-9_+/=-]+/g, '$1_[REDACTED]'],
  [/\bxox[a-z]-[A-Za-z0-9-]+/g, 'xox?-[REDACTED]'],
  [/\bre_[A-Za-z0-9_]{8,}/g, 're_[REDACTED]'],
];

export function scrubSecrets(text: string): string {
  let out = text;
  for (const [re, replacement] of SECRET_PATTERNS) out = out.replace(re, replacement);
  return out;
}

function errSerializer(err: unknown) {
  if (!(err instanceof Error)) return err;
  const s = stdSerializers.err(err);
  return { ...s, message: scrubSecrets(s.message), stack: s.stack ? scrubSecrets(s.stack) : s.stack };
}

const context = new AsyncLocalStorage<Record<string, unknown>>();

/** Runs `fn` with `fields` (a request id) on every line logged within it, also in code it awaits. */
export function withLogContext<T>(fields: Record<string, unknown>, fn: () => T): T {
  return context.run({ ...context.getStore(), ...fields }, fn);
}

export function createLogger(opts: LogOptions = {}): Logger {
  const format = opts.format ?? 'json';
  const destination =
    opts.destination ?? (format === 'pretty' ? pretty({ colorize: process.stdout.isTTY, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname,service' }) : undefined);
  return pino(
    {
      level: opts.level ?? 'info',
      base: { service: 'tocsin' },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      serializers: { err: errSerializer, error: errSerializer },
      // The request id of the request being served, and the trace of the active span (when
      // tracing is on), so a line leads to its trace and back.
      mixin: () => {
        const span = trace.getActiveSpan()?.spanContext();
        const fields = context.getStore() ?? {};
        return span && isSpanContextValid(span) ? { ...fields, traceId: span.traceId, spanId: span.spanId } : fields;
      },
      hooks: {
        logMethod(args, method) {
          // Free-text arguments (the message and its format arguments) are scrubbed too.
          const scrubbed = args.map((a) => (typeof a === 'string' ? scrubSecrets(a) : a)) as typeof args;
          return method.apply(this, scrubbed);
        },
      },
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

const TEMPORAL_LEVELS: Record<TemporalLogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * The Temporal SDK's Logger over ours (Runtime.install({ logger })): the SDK's own lines, the
 * workflows' `log` (through the logger sink the SDK installs) and the activities' `log`, each
 * with the metadata the SDK attaches (workflowId, runId, activityId, taskQueue, …).
 */
export function temporalLogger(log: Logger): TemporalLogger {
  const child = log.child({ component: 'temporal' });
  const emit = (level: TemporalLogLevel, message: string, meta?: LogMetadata) => {
    // The SDK's own info lines (the bundler's report, worker state changes) are debug to us;
    // what workflows and activities log keeps its level.
    const own = meta?.sdkComponent === 'worker' || meta?.sdkComponent === 'core';
    child[own && level === 'INFO' ? 'debug' : (TEMPORAL_LEVELS[level] ?? 'info')](meta ?? {}, message);
  };
  return {
    log: emit,
    trace: (m, meta) => emit('TRACE', m, meta),
    debug: (m, meta) => emit('DEBUG', m, meta),
    info: (m, meta) => emit('INFO', m, meta),
    warn: (m, meta) => emit('WARN', m, meta),
    error: (m, meta) => emit('ERROR', m, meta),
  };
}

/** The Temporal level that lets through what `level` does (for the SDK's native core). */
export function temporalLevel(level: LogLevel): TemporalLogLevel {
  if (level === 'trace' || level === 'debug' || level === 'info') return level.toUpperCase() as TemporalLogLevel;
  return level === 'warn' ? 'WARN' : 'ERROR';
}

/**
 * An activity interceptor: whatever our own code logs while an activity runs (a sender's
 * warning, say) carries the workflow's and the activity's ids, as the SDK's own lines do.
 */
export const activityLogContext: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    execute: (input, next) =>
      withLogContext(
        {
          workflowId: ctx.info.workflowExecution?.workflowId,
          workflowRunId: ctx.info.workflowExecution?.runId,
          workflowType: ctx.info.workflowType,
          activityId: ctx.info.activityId,
          activityType: ctx.info.activityType,
          attempt: ctx.info.attempt,
        },
        () => next(input),
      ),
  },
});


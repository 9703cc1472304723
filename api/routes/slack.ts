// Slack interactivity: the Acknowledge button of incident messages. Outside tenant auth: Slack
// signs each request (v0 HMAC-SHA256 of `v0:<timestamp>:<raw body>` with the app's signing
// secret), checked by @slack/bolt's verifier (../provider-signatures.ts), which refuses a
// timestamp more than five minutes old as a replay.
import { createRoute, z } from '@hono/zod-openapi';
import { ACK_ACTION_ID } from '../../domain/incidents.js';
import { cleanText } from '../../domain/text.js';
import { problems, router, security } from '../contract.js';
import type { AppDeps } from '../deps.js';
import { badRequest, Problem } from '../problem.js';
import { isValidSlackSignature } from '../provider-signatures.js';
import { acknowledgeFromSlack } from '../../usecases/incidents.js';

/** Slack gives up after 3 s; the acknowledgement only has to be accepted by then. */
const ACCEPT_DEADLINE_MS = 2_500;

/** The parts of a `block_actions` payload we act on; everything else is ignored. */
const Payload = z.object({
  type: z.string().max(100),
  user: z.object({ id: z.string().max(100), username: z.string().max(1000).optional(), name: z.string().max(1000).optional() }).optional(),
  actions: z.array(z.object({ action_id: z.string().max(255), value: z.string().max(2000).optional() })).max(100).optional(),
});

/** Slack's form post; verified against its raw bytes, so not parsed before the handler. */
const interactivity = createRoute({
  method: 'post',
  path: '/interactivity',
  summary: "Slack's interactivity callback (the Acknowledge button), signed by Slack",
  security: security.none,
  request: {
    body: {
      required: true,
      content: { 'application/x-www-form-urlencoded': { schema: { type: 'object', properties: { payload: { type: 'string', description: 'The interaction, as JSON' } } } } },
    },
  },
  responses: { 200: { description: 'Handled' }, ...problems(400, 401, 413, 503) },
});

export function slackRoutes(deps: AppDeps) {
  const now = deps.now ?? Date.now;
  const app = router();

  app.openapi(interactivity, async (c) => {
    const raw = await c.req.text();
    const signed = { timestamp: c.req.header('x-slack-request-timestamp'), signature: c.req.header('x-slack-signature') };
    if (!(await isValidSlackSignature(deps.secrets?.slackSigningSecret, raw, signed, now()))) {
      throw new Problem(401, 'The Slack request signature is missing, invalid or stale');
    }
    let json: unknown;
    try {
      json = JSON.parse(new URLSearchParams(raw).get('payload') ?? '');
    } catch {
      throw badRequest('The form field payload is not JSON', [{ path: 'payload', message: 'malformed JSON' }]);
    }
    const parsed = Payload.safeParse(json);
    if (!parsed.success) throw badRequest('The Slack payload is not an interaction', [{ path: 'payload', message: parsed.error.message }]);
    const { type, user, actions = [] } = parsed.data;
    if (type !== 'block_actions' || !user) return c.body(null, 200);
    // Slack's text, stored in the timeline: cleaned like anything a provider sends (domain/text.ts).
    const by = cleanText(user.username ?? user.name ?? user.id, 200);

    for (const action of actions) {
      if (action.action_id !== ACK_ACTION_ID || !action.value) continue;
      await acknowledgeFromSlack(deps, cleanText(action.value), by, ACCEPT_DEADLINE_MS);
    }
    return c.body(null, 200);
  });

  return app;
}

// A fake PagerDuty Events API v2: POST /v2/enqueue → 202
// {"status":"success","message":"Event processed","dedup_key"}. Invalid events get 400
// {"status":"invalid event","message":"Event object is invalid","errors":[…]}.
import { type FakeServer, hex, type RecordedRequest, type Reply, startFakeServer } from './server.js';

const ACTIONS = ['trigger', 'acknowledge', 'resolve'];
const SEVERITIES = ['critical', 'error', 'warning', 'info'];

export function pagerError(status: number, errors: string[] = []) {
  if (status === 400) return { status: 'invalid event', message: 'Event object is invalid', errors };
  if (status === 429) return { status: 'throttle event', message: 'Requests for this service are arriving too quickly.' };
  return { status: 'error', message: `HTTP ${status}`, errors };
}

export interface FakePagerDuty extends FakeServer {
  /** The full enqueue URL (`${url}/v2/enqueue`). */
  eventsUrl: string;
}

export async function startFakePagerDuty(): Promise<FakePagerDuty> {
  function handle(req: RecordedRequest): Reply {
    if (req.method !== 'POST' || req.path !== '/v2/enqueue') return { status: 404, body: pagerError(404) };
    const event = (req.body ?? {}) as Record<string, any>;
    const errors: string[] = [];
    if (typeof event.routing_key !== 'string' || !event.routing_key) errors.push("'routing_key' is missing.");
    if (!ACTIONS.includes(event.event_action)) errors.push("'event_action' is invalid.");
    if (event.event_action === 'trigger') {
      const p = event.payload ?? {};
      if (!p.summary) errors.push("'payload.summary' is missing or blank.");
      if (!p.source) errors.push("'payload.source' is missing or blank.");
      if (!SEVERITIES.includes(p.severity)) errors.push("'payload.severity' is invalid.");
    } else if (event.event_action && !event.dedup_key) {
      errors.push("'dedup_key' is required for acknowledge and resolve events.");
    }
    if (errors.length) return { status: 400, body: pagerError(400, errors) };
    return {
      status: 202,
      body: { status: 'success', message: 'Event processed', dedup_key: event.dedup_key ?? hex(32) },
    };
  }
  const server = await startFakeServer(handle, (status) => pagerError(status));
  return { ...server, eventsUrl: `${server.url}/v2/enqueue` };
}

// Histories to and from the JSON that `temporal workflow show --output json` and the Web UI's
// download produce (protobuf's canonical JSON). The SDK's historyToJSON/historyFromJSON do the
// same, but they fail ("type must be a Type") when npm installs a separate copy of protobufjs
// for @temporalio/common and for @temporalio/proto, as it does for our lock file: the message
// types come from one copy and the converter checks them against the other. So the converter
// here is the one beside @temporalio/proto's own protobufjs, whichever copy that is.
import { createRequire } from 'node:module';
import proto, { temporal } from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root.js';

type History = temporal.api.history.v1.IHistory;

const protojson = createRequire(createRequire(import.meta.url).resolve('@temporalio/proto'))('protobufjs/ext/protojson') as {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown;
};
const historyType = (patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown }).lookupType('temporal.api.history.v1.History');

export function historyToJson(history: History): unknown {
  return protojson.toJson(historyType, temporal.api.history.v1.History.fromObject(history as Record<string, unknown>));
}

/** A decoded History (what Worker.runReplayHistories takes without converting it again). */
export function historyFromJson(json: unknown): temporal.api.history.v1.History {
  const decoded = protojson.fromJson(historyType, json, { ignoreUnknownFields: true });
  if (!decoded) throw new TypeError('not a history');
  return decoded as temporal.api.history.v1.History;
}

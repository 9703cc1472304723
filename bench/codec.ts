// The payload codec's cost: encrypt + decrypt of a typical 2 KB payload (a recipient and its
// rendered content), in this process, on one core. `npx tsx bench/codec.ts`
import { defaultPayloadConverter } from '@temporalio/common';
import { EncryptionCodec, generateEncryptionKey } from '../usecases/payload-codec.js';

const codec = new EncryptionCodec([generateEncryptionKey()]);
const payload = defaultPayloadConverter.toPayload({ recipient: { email: 'ann@example.com', phone: '+14155550123' }, content: { text: 'x'.repeat(1900) } })!;
const n = Number(process.env.CODEC_BENCH_N ?? 50_000);
console.log(`payload: ${payload.data!.length} bytes of JSON, ${n} round trips per round`);
for (let round = 1; round <= 3; round++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) codec.open(codec.seal(payload));
  const ns = Number(process.hrtime.bigint() - t0);
  console.log(`round ${round}: ${Math.round(n / (ns / 1e9))} encode+decode/s (${(ns / n / 1000).toFixed(1)} µs each)`);
}

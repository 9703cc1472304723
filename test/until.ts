// Polls until a value satisfies a predicate. Polling, unlike awaiting a workflow's result on
// the time-skipping server, never lets the server skip time.
export async function until<T>(fn: () => Promise<T>, pred: (v: T) => boolean, timeoutMs = 30_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (pred(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out; last value ${JSON.stringify(v)?.slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

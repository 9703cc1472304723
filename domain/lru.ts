// A small bounded map with least-recently-used eviction and an optional time to live, for
// caches of immutable rows (template versions, parsed templates) and of short-lived lookups
// (API keys). Each entry weighs 1 unless the cache weighs entries itself (`byteLru`): then
// `max` bounds the sum of their weights, e.g. an estimate of the bytes each one holds.
export class Lru<K, V> {
  private readonly map = new Map<K, { value: V; at: number; weight: number }>();
  private total = 0;
  constructor(
    private readonly max: number,
    private readonly ttlMs = Infinity,
    private readonly now: () => number = Date.now,
    private readonly weigh: (key: K, value: V) => number = () => 1,
  ) {}

  get(key: K): V | undefined {
    const hit = this.map.get(key);
    if (!hit) return undefined;
    this.map.delete(key);
    if (this.now() - hit.at > this.ttlMs) {
      this.total -= hit.weight;
      return undefined;
    }
    this.map.set(key, hit);
    return hit.value;
  }

  /** Stores `value`, evicting the least recently used entries past the bound; one heavier than the whole bound is not kept. */
  set(key: K, value: V): void {
    this.delete(key);
    const weight = this.weigh(key, value);
    if (weight > this.max) return;
    this.map.set(key, { value, at: this.now(), weight });
    this.total += weight;
    while (this.total > this.max) this.delete(this.map.keys().next().value as K);
  }

  delete(key: K): void {
    const hit = this.map.get(key);
    if (!hit) return;
    this.map.delete(key);
    this.total -= hit.weight;
  }

  /** The sum of the entries' weights (their count, unless the cache weighs them). */
  get weight(): number {
    return this.total;
  }
}

/** An LRU bounded by an estimate of the bytes its entries hold rather than by their count. */
export function byteLru<K, V>(maxBytes: number, bytesOf: (key: K, value: V) => number): Lru<K, V> {
  return new Lru<K, V>(maxBytes, Infinity, Date.now, bytesOf);
}

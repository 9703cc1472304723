// Preloaded into a process by bench/api-memory.ts (NODE_OPTIONS=--import=…): on SIGWINCH it
// writes the process's memory as V8 and Node see it to TOCSIN_MEMORY_PROBE (one JSON line).
import { appendFileSync } from 'node:fs';
import v8 from 'node:v8';

const file = process.env.TOCSIN_MEMORY_PROBE;
const mb = (bytes) => Math.round(bytes / 104857.6) / 10;
if (file) {
  process.on('SIGWINCH', () => {
    const heap = v8.getHeapStatistics();
    const mem = process.memoryUsage();
    appendFileSync(
      file,
      `${JSON.stringify({
        heapTotal: mb(heap.total_heap_size),
        heapUsed: mb(heap.used_heap_size),
        malloced: mb(heap.malloced_memory),
        peakMalloced: mb(heap.peak_malloced_memory),
        external: mb(mem.external),
      })}\n`,
    );
  });
}

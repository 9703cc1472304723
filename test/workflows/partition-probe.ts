// A workflow with nothing to do but complete: test/cluster-partitions.smoke.ts starts runs of it
// before any worker polls, so their first workflow tasks wait in the task queue's backlog.
export async function partitionProbe(n: number): Promise<number> {
  return n;
}

// Signal-with-start, then ask the run that took the signal what came of it: how a digest arrival
// and an incident trigger join their one running workflow (or start it) atomically.
import { ServiceError, WorkflowExecutionAlreadyStartedError, isGrpcServiceError, type Client, type QueryDefinition } from '@temporalio/client';

/** gRPC's FAILED_PRECONDITION: how a server refuses a query before a run's first workflow task. */
const GRPC_FAILED_PRECONDITION = 9;

/**
 * Runs `signalWithStart` (which must use `WorkflowIdConflictPolicy.USE_EXISTING`), then sends
 * `query` to the run that took the signal (a query is consistent with the signals its run has
 * taken) and returns its answer.
 */
export async function signalWithStartThenQuery<Ret, Args extends unknown[]>(
  client: Client,
  workflowId: string,
  signalWithStart: () => Promise<{ signaledRunId: string }>,
  query: QueryDefinition<Ret, Args>,
  ...args: Args
): Promise<Ret> {
  let signaledRunId: string;
  for (let race = 1; ; race++) {
    try {
      ({ signaledRunId } = await signalWithStart());
      break;
    } catch (err) {
      // Two starts raced (the time-skipping test server is not atomic here): nothing was
      // signalled, and the next attempt finds the workflow the other one started.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError) || race >= 5) throw err;
    }
  }
  const run = client.workflow.getHandle(workflowId, signaledRunId);
  for (let early = 1; ; early++) {
    try {
      return await run.query(query, ...args);
    } catch (err) {
      // A server may refuse a query until the run's first workflow task is done.
      const code = err instanceof ServiceError && isGrpcServiceError(err.cause) ? err.cause.code : undefined;
      if (code !== GRPC_FAILED_PRECONDITION || early >= 20) throw err;
      await new Promise((r) => setTimeout(r, 20 * early));
    }
  }
}

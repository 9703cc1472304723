// The API's Temporal connection.
import { defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';

/**
 * The API's Temporal connection fails fast (a few short retries) so that a Temporal outage
 * answers 503 within seconds instead of holding the client's request.
 */
export function apiConnectionOptions(address: string) {
  return {
    address,
    connectTimeout: 2000,
    interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 3, maxIntervalMs: () => 500 }))],
  };
}

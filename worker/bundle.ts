// The workflow bundle built ahead of the worker (webpack, in the process that calls this): a worker
// given it (WORKFLOW_BUNDLE, or startTocsin's workflowBundle) starts without bundling, so the
// bundler's memory (its peak is most of a worker's resident set) never enters the worker process.
import { bundleWorkflowCode } from '@temporalio/worker';
import { workflowTracingModule } from '../telemetry/tracing.js';
import { FAILURE_CONVERTER_PATH } from '../usecases/payload-codec.js';
import { PRELOADED_WORKFLOW_MODULES, workflowsPath as tocsinWorkflows } from './index.js';

const silent = { info() {}, warn() {}, error: console.error, debug() {}, trace() {}, log() {} };

/**
 * Tocsin's workflows (or `workflowsPath`'s) with the payload failure converter, the modules shared
 * between runs (PRELOADED_WORKFLOW_MODULES unless `preloadModules` says otherwise), and tracing's
 * workflow interceptors when `tracing` (a worker with OTEL_EXPORTER_OTLP_ENDPOINT set needs them
 * bundled in: a prebuilt bundle cannot take them at start).
 */
export async function bundleWorkflows(opts: { tracing?: boolean; workflowsPath?: string; preloadModules?: string[] } = {}): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: opts.workflowsPath ?? tocsinWorkflows,
    failureConverterPath: FAILURE_CONVERTER_PATH,
    preloadModules: opts.preloadModules ?? PRELOADED_WORKFLOW_MODULES,
    ...(opts.tracing ? { workflowInterceptorModules: [workflowTracingModule] } : {}),
    logger: silent as never,
  });
  return code;
}

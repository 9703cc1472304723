// The worker's workflow module: every export is a workflow type, with its versioning behaviour
// under Worker Deployment Versioning (used when the worker runs with a deployment name).
//
// PINNED: a run stays on the build that started it, so a new build can change its commands
// freely; the old build must keep running until its pinned runs close. Only for workflows whose
// runs last seconds to minutes: the scheduled send (accepts, starts a child, ends) and an
// incident's resolution (sends its follow-ups once).
//
// AUTO_UPGRADE: a run moves to the current build at its next workflow task, so every change to
// its commands goes behind patched() and is checked by the replay tests (test/replay/). For
// everything that may wait long: incidents and digests (days), broadcasts of both kinds (hours, while
// recipients sit in quiet hours) and notifications. A plain notification ends in seconds, but
// sendAt and quiet hours hold one for hours to months, and one workflow type has one behaviour:
// pinning would keep every old build running for as long as the furthest sendAt.
import type { VersioningBehavior } from '@temporalio/common';
import { setWorkflowOptions, workflowInfo } from '@temporalio/workflow';
import { broadcastWorkflow } from './broadcast.js';
import { broadcastBatchWorkflow } from './broadcast-batch.js';
import { digestWorkflow } from './digest.js';
import { incidentResolutionWorkflow, incidentWorkflow } from './escalation.js';
import { notificationWorkflow } from './notification.js';
import { flowWorkflow } from './flow.js';
import { scheduledSendWorkflow } from './schedule.js';
import { erasureWorkflow } from './erasure.js';
import { retentionWorkflow } from './retention.js';
import { eventWorkflow } from './event.js';
import { webhookDispatchWorkflow } from './webhook-dispatch.js';
import { retryWorkflow } from './retry.js';

/**
 * The behaviour, declared only when the run started on a versioned worker: the server rejects a
 * behaviour from an unversioned one (no TEMPORAL_DEPLOYMENT_NAME: `npm start`, the tests). Runs
 * begun before versioning was turned on get the worker's default, AUTO_UPGRADE.
 */
const versioned = (versioningBehavior: VersioningBehavior) => () => (workflowInfo().currentDeploymentVersion?.deploymentName ? { versioningBehavior } : {});

setWorkflowOptions(versioned('AUTO_UPGRADE'), notificationWorkflow);
// A flow waits as long as its delays and waits (up to a year each): as notifications.
setWorkflowOptions(versioned('AUTO_UPGRADE'), flowWorkflow);
setWorkflowOptions(versioned('AUTO_UPGRADE'), incidentWorkflow);
setWorkflowOptions(versioned('PINNED'), incidentResolutionWorkflow);
setWorkflowOptions(versioned('AUTO_UPGRADE'), digestWorkflow);
setWorkflowOptions(versioned('AUTO_UPGRADE'), broadcastWorkflow);
setWorkflowOptions(versioned('AUTO_UPGRADE'), broadcastBatchWorkflow);
setWorkflowOptions(versioned('PINNED'), scheduledSendWorkflow);
// Erasure and retention run for minutes: pinned.
setWorkflowOptions(versioned('PINNED'), erasureWorkflow);
setWorkflowOptions(versioned('PINNED'), retentionWorkflow);
// A retry sends its failed deliveries again and ends, in seconds to the retry policy's hours: pinned.
setWorkflowOptions(versioned('PINNED'), retryWorkflow);
// An event's run accepts its notifications and ends within seconds (minutes for a large segment): pinned.
setWorkflowOptions(versioned('PINNED'), eventWorkflow);

// A webhook dispatcher lives as long as its endpoint (continuing as new): auto-upgrade.
setWorkflowOptions(versioned('AUTO_UPGRADE'), webhookDispatchWorkflow);

export { notificationWorkflow, flowWorkflow, incidentResolutionWorkflow, incidentWorkflow, digestWorkflow, broadcastWorkflow, broadcastBatchWorkflow, scheduledSendWorkflow, erasureWorkflow, retentionWorkflow, eventWorkflow, webhookDispatchWorkflow, retryWorkflow };

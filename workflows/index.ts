export { notificationWorkflow } from './notification.js';
export { incidentResolutionWorkflow, incidentWorkflow } from './escalation.js';
export { digestWorkflow } from './digest.js';
export { broadcastWorkflow } from './broadcast.js';
export { scheduledSendWorkflow } from './schedule.js';

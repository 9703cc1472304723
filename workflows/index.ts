export { notificationWorkflow } from './notification.js';

// The workflows a worker registers; the SDK bundles this file and everything it imports.
export { hostReprovision } from './host-reprovision.ts';
export { rollout } from './rollout.ts';
export { bmcSemaphore } from './bmc-semaphore.ts';
export { siteModelPublish } from './site-model-publisher.ts';
export { hostInstallerLogs } from './host-installer-logs.ts';
export { agentStatus } from './agent-status.ts';

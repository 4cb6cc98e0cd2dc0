// Names shared by everything that talks to Temporal: the namespace, the task queues and the
// custom search attributes that make host workflows filterable in the UI and the REST API.
import { defineSearchAttributeKey } from '@temporalio/common';
import type { SearchAttributeType } from '@temporalio/common';

export const NAMESPACE_DEFAULT = 'vaquero';
export const CONTROL_TASK_QUEUE = 'vaquero-control';

/** Task queue served by every agent of one site (BMC power, task containers, validation). */
export function siteTaskQueue(site: string): string {
  return 'site-' + site;
}

/**
 * Task queue of one agent of a site: gate and site-model updates go to every agent of a site with several (each
 * serves DHCP and HTTP from its own cache), while power and tasks go to the shared site queue (any agent can).
 */
export function agentTaskQueue(site: string, agentId: string): string {
  return `site-${site}/agent-${agentId}`;
}

export const SA_SITE = defineSearchAttributeKey('VaqSite', 'KEYWORD');
export const SA_HOST = defineSearchAttributeKey('VaqHost', 'KEYWORD');
export const SA_STAGE = defineSearchAttributeKey('VaqStage', 'KEYWORD');
export const SA_REVISION = defineSearchAttributeKey('VaqRevision', 'KEYWORD');
export const SA_STATE = defineSearchAttributeKey('VaqState', 'KEYWORD');

/** Every custom search attribute vaquero needs in its namespace, by name. */
export const SEARCH_ATTRIBUTES: Readonly<Record<string, SearchAttributeType>> = Object.fromEntries(
  [SA_SITE, SA_HOST, SA_STAGE, SA_REVISION, SA_STATE].map((k) => [k.name, k.type]),
);

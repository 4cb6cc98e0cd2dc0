// Custom search attributes that make hosts and rollouts filterable in the Temporal UI and through visibility
// queries. They are registered on the server by temporal/dev-server.ts (or by an operator in production).
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const VaqSite = defineSearchAttributeKey('VaqSite', SearchAttributeType.KEYWORD);
export const VaqHost = defineSearchAttributeKey('VaqHost', SearchAttributeType.KEYWORD);
export const VaqStage = defineSearchAttributeKey('VaqStage', SearchAttributeType.KEYWORD);
export const VaqRevision = defineSearchAttributeKey('VaqRevision', SearchAttributeType.KEYWORD);
export const VaqState = defineSearchAttributeKey('VaqState', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTE_NAMES = ['VaqSite', 'VaqHost', 'VaqStage', 'VaqRevision', 'VaqState'] as const;

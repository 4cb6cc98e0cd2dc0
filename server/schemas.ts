// JSON schemas shared by the routes. They validate requests, make responses fast to serialize (only the listed
// properties are sent), and become the OpenAPI document's components.
import { errorSchema } from './errors.ts';

export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';
export const SOT_PATTERN = '^[a-z0-9][a-z0-9._-]{0,127}$';
export const REVISION_PATTERN = '^[A-Za-z0-9._-]{1,128}$';

const iso = { type: 'string', format: 'date-time' } as const;
const counts = { type: 'object', additionalProperties: { type: 'integer' } } as const;

export const hostSummarySchema = {
  $id: 'HostSummary',
  type: 'object',
  required: ['site', 'host', 'stage', 'state', 'revision', 'workflowId', 'runId', 'startedAt', 'stageSince'],
  properties: {
    site: { type: 'string' },
    host: { type: 'string' },
    stage: { type: 'string', description: 'Current stage (or the stage a failed run failed at)' },
    state: { type: 'string', description: 'running, provisioned, failed, cancelled, terminated, timed_out' },
    revision: { type: 'string' },
    workflowId: { type: 'string' },
    runId: { type: 'string' },
    startedAt: iso,
    closedAt: iso,
    stageSince: {
      ...iso,
      description: 'When this replica first saw the current stage (late by up to one index refresh)',
    },
  },
} as const;

export const timelineEntrySchema = {
  $id: 'TimelineEntry',
  type: 'object',
  required: ['at', 'bootStage', 'stage', 'kind', 'message'],
  properties: {
    at: { type: 'integer', description: 'Epoch milliseconds (workflow time)' },
    bootStage: { type: 'integer' },
    stage: { type: 'string' },
    kind: { type: 'string', description: 'stage, event, power, task, timeout, error, revision, override, …' },
    message: { type: 'string' },
  },
} as const;

export const hostDetailSchema = {
  $id: 'HostDetail',
  type: 'object',
  required: [
    'site',
    'host',
    'stage',
    'state',
    'revision',
    'workflowId',
    'runId',
    'startedAt',
    'stageSince',
    'secondsInStage',
    'attempt',
    'powerCycles',
    'timeline',
    'source',
  ],
  properties: {
    site: { type: 'string' },
    host: { type: 'string' },
    stage: { type: 'string' },
    state: { type: 'string' },
    revision: { type: 'string' },
    fingerprint: { type: 'string' },
    workflowId: { type: 'string' },
    runId: { type: 'string' },
    startedAt: iso,
    closedAt: iso,
    bootStage: { type: 'integer' },
    bootStages: { type: 'integer' },
    stageSince: iso,
    secondsInStage: { type: 'number' },
    attempt: { type: 'integer', description: 'Power attempt in the current boot stage (1 = first)' },
    powerCycles: { type: 'integer' },
    lastError: { type: 'string' },
    owner: { type: 'string', description: 'Rollout that waits for this host' },
    pendingRevision: { type: 'string' },
    note: {
      type: 'string',
      description:
        'What the run waits for that its stage does not say (a host without a BMC waiting for its own netboot; a validate-only run)',
    },
    timeline: { type: 'array', items: { $ref: 'TimelineEntry#' } },
    source: {
      type: 'string',
      enum: ['workflow', 'index'],
      description: 'index: no worker answered; visibility data only',
    },
  },
} as const;

export const rolloutSummarySchema = {
  $id: 'RolloutSummary',
  type: 'object',
  required: ['id', 'sot', 'revision', 'state', 'status', 'startedAt'],
  properties: {
    id: { type: 'string' },
    sot: { type: 'string' },
    revision: { type: 'string' },
    state: {
      type: 'string',
      description: 'preparing, running, paused, halted, aborting, completed, failed, aborted, superseded',
    },
    status: { type: 'string', description: 'Temporal execution status' },
    startedAt: iso,
    closedAt: iso,
    counts: { ...counts, description: 'Hosts by rollout host state (running rollouts)' },
    total: { type: 'integer' },
  },
} as const;

export const rolloutDetailSchema = {
  $id: 'RolloutDetail',
  type: 'object',
  required: [
    'id',
    'sot',
    'revision',
    'state',
    'status',
    'startedAt',
    'hosts',
    'counts',
    'unchanged',
    'skipped',
    'removed',
    'timeline',
  ],
  properties: {
    id: { type: 'string' },
    sot: { type: 'string' },
    revision: { type: 'string' },
    state: { type: 'string' },
    reason: { type: 'string' },
    status: { type: 'string' },
    startedAt: iso,
    closedAt: iso,
    counts,
    unchanged: { type: 'integer' },
    skipped: { type: 'integer' },
    removed: { type: 'integer' },
    supersededBy: { type: 'string' },
    total: { type: 'integer', description: 'Hosts the rollout planned to reprovision' },
    failedHosts: {
      type: 'array',
      description: 'Failed hosts with their error (at most 100; counts.failed has them all)',
      items: {
        type: 'object',
        required: ['host'],
        properties: { host: { type: 'string' }, error: { type: 'string' } },
      },
    },
    workflows: {
      type: 'array',
      description: 'Per SoT workflow: hosts planned, started, running now and failed, and its rollout policy',
      items: {
        type: 'object',
        required: ['workflow', 'planned', 'started', 'running', 'failed'],
        properties: {
          workflow: { type: 'string' },
          planned: { type: 'integer' },
          started: { type: 'integer' },
          running: { type: 'integer' },
          failed: { type: 'integer' },
          policy: {
            type: 'object',
            properties: {
              max_concurrent: { type: 'integer' },
              min_standing: { type: 'integer' },
              max_fail: { type: 'integer' },
              block_deps: { type: 'array', items: { type: 'string' } },
              total_hosts: { type: 'integer' },
            },
          },
        },
      },
    },
    hosts: {
      type: 'array',
      description:
        'Hosts running now and the most recently finished (bounded at fleet scale: counts covers every host)',
      items: {
        type: 'object',
        required: ['site', 'host', 'state'],
        properties: {
          site: { type: 'string' },
          host: { type: 'string' },
          workflow: { type: 'string' },
          state: { type: 'string' },
          startedAt: { type: 'integer', description: 'Epoch ms' },
          finishedAt: { type: 'integer', description: 'Epoch ms' },
          error: { type: 'string' },
        },
      },
    },
    timeline: {
      type: 'array',
      items: {
        type: 'object',
        required: ['at', 'kind', 'message'],
        properties: {
          at: { type: 'integer' },
          kind: { type: 'string' },
          host: { type: 'string' },
          message: { type: 'string' },
        },
      },
    },
  },
} as const;

export const startResultSchema = {
  $id: 'StartResult',
  type: 'object',
  required: ['sot', 'revision', 'workflowId', 'started'],
  properties: {
    sot: { type: 'string' },
    revision: { type: 'string' },
    workflowId: { type: 'string' },
    started: { type: 'boolean' },
    reason: { type: 'string' },
  },
} as const;

export const planSchema = {
  $id: 'Plan',
  type: 'object',
  required: ['valid', 'sot', 'from', 'to'],
  properties: {
    valid: { type: 'boolean', description: 'false: a revision is not a valid SoT; see problems' },
    sot: { type: 'string' },
    from: {
      type: 'string',
      nullable: true,
      description: 'null: planned against what each host last reached',
    },
    to: { type: 'string' },
    counts,
    hosts: {
      type: 'array',
      items: {
        type: 'object',
        required: ['site', 'host', 'action', 'reasons'],
        properties: {
          site: { type: 'string' },
          host: { type: 'string' },
          action: {
            type: 'string',
            enum: ['reprovision', 'added', 'validate', 'removed', 'skipped', 'unchanged'],
          },
          reasons: { type: 'array', items: { type: 'string' } },
        },
      },
    },
    problems: {
      type: 'array',
      items: {
        type: 'object',
        required: ['revision', 'messages'],
        properties: { revision: { type: 'string' }, messages: { type: 'array', items: { type: 'string' } } },
      },
    },
    warnings: {
      type: 'array',
      description:
        'Per revision, what does not make it invalid but an operator should know (a release_tag not found)',
      items: {
        type: 'object',
        required: ['revision', 'messages'],
        properties: { revision: { type: 'string' }, messages: { type: 'array', items: { type: 'string' } } },
      },
    },
  },
} as const;

export const webhookResultSchema = {
  $id: 'WebhookResult',
  type: 'object',
  required: ['event', 'delivery', 'results'],
  properties: {
    event: { type: 'string' },
    delivery: { type: 'string' },
    zen: { type: 'string' },
    results: {
      type: 'array',
      items: {
        type: 'object',
        required: ['sot', 'action'],
        properties: {
          sot: { type: 'string' },
          action: { type: 'string', enum: ['started', 'ignored', 'planning'] },
          workflowId: { type: 'string' },
          revision: { type: 'string' },
          reason: { type: 'string' },
        },
      },
    },
  },
} as const;

export const SHARED_SCHEMAS = [
  errorSchema,
  hostSummarySchema,
  timelineEntrySchema,
  hostDetailSchema,
  rolloutSummarySchema,
  rolloutDetailSchema,
  startResultSchema,
  planSchema,
  webhookResultSchema,
];

export const ref = (id: string) => ({ $ref: `${id}#` });

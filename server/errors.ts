// One error shape for every failure the API returns:
//   { "error": { "status": 404, "code": "not_found", "message": "…", "details": …, "requestId": "…" } }
// Validation errors list each problem in `details`; Temporal's errors map to 404 (no such workflow),
// 409 (an update the workflow refused) and 503 (Temporal unreachable), GitHub's to 502; anything unexpected is a 500 whose
// message is logged, never sent.
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RequestError } from 'octokit';
import { ApiError } from '../domain/api-error.ts';

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  description: 'Every error response has this shape.',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['status', 'code', 'message'],
      properties: {
        status: { type: 'integer' },
        code: {
          type: 'string',
          description: 'Stable machine-readable code, e.g. validation_failed, unauthorized, not_found',
        },
        message: { type: 'string' },
        details: {},
        requestId: { type: 'string' },
      },
    },
  },
} as const;

/** `$ref`s to the shared error schema for the error statuses a route can answer. */
export function errorResponses(...statuses: number[]): Record<string, { $ref: string }> {
  return Object.fromEntries(
    [...new Set([401, 403, 500, ...statuses])].map((s) => [String(s), { $ref: 'Error#' }]),
  );
}

const CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable',
  429: 'too_many_requests',
  500: 'internal',
  503: 'unavailable',
};

export function sendError(reply: FastifyReply, request: FastifyRequest, e: ApiError): FastifyReply {
  return reply
    .code(e.status)
    .type('application/json; charset=utf-8')
    .send({
      error: {
        status: e.status,
        code: e.code,
        message: e.message,
        ...(e.details !== undefined ? { details: e.details } : {}),
        requestId: request.id,
      },
    });
}

/** Maps anything thrown by a handler, a hook or fastify itself to an ApiError. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const fe = err as Partial<FastifyError> & { validation?: unknown[]; validationContext?: string };
  if (fe.validation) {
    const details = fe.validation.map((v) => {
      const i = v as { instancePath?: string; message?: string; params?: unknown };
      return {
        in: fe.validationContext ?? 'request',
        path: i.instancePath ?? '',
        message: i.message ?? 'invalid',
        params: i.params,
      };
    });
    return new ApiError(400, 'validation_failed', fe.message ?? 'request is invalid', details);
  }
  if (err instanceof WorkflowNotFoundError) return new ApiError(404, 'not_found', err.message);
  // GitHub's API failing is a bad gateway here, whatever its status (a 404 for a branch is GitHub's answer).
  if (err instanceof RequestError)
    return new ApiError(502, 'github_error', `GitHub answered ${err.status}: ${err.message}`);
  if (err instanceof WorkflowUpdateFailedError) {
    const cause =
      err.cause instanceof ApplicationFailure || err.cause instanceof Error ? err.cause.message : err.message;
    return new ApiError(409, 'conflict', cause);
  }
  // gRPC UNAVAILABLE / DEADLINE_EXCEEDED from the Temporal client, on the error or its cause.
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const grpc = (e as { code?: unknown }).code;
    if (grpc === 14 || grpc === 4)
      return new ApiError(503, 'temporal_unavailable', 'Temporal did not answer in time');
  }
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500)
    return new ApiError(status, CODES[status] ?? `http_${status}`, fe.message ?? 'bad request');
  return new ApiError(500, 'internal', 'internal error');
}

/** A route pattern (`/hosts/:site/:host`, `/docs/*`) as a regular expression over a request's path. */
function patternOf(url: string): RegExp {
  const body = url
    .split('/')
    .map((seg) =>
      seg === '*' ? '.*' : seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('/');
  return new RegExp(`^${body}/?$`);
}

/**
 * Errors in the one shape, and requests no route takes: a path the API has with another method is a 405 naming the
 * methods it allows (RFC 9110 §15.5.6); anything else a 404.
 */
export function installErrorHandling(
  app: FastifyInstance,
  routes: () => readonly { method: string; url: string }[] = () => [],
): void {
  app.setErrorHandler((err, request, reply) => {
    const e = toApiError(err);
    if (e.status >= 500) request.log.error({ err }, 'request failed');
    return sendError(reply, request, e);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const allowed = [
      ...new Set(
        routes()
          .filter((r) => patternOf(r.url).test(path))
          .map((r) => r.method.toUpperCase()),
      ),
    ].sort();
    if (allowed.length > 0) {
      void reply.header('allow', allowed.join(', '));
      return sendError(
        reply,
        request,
        new ApiError(
          405,
          'method_not_allowed',
          `${request.method} is not allowed on ${path}: ${allowed.join(', ')}`,
        ),
      );
    }
    return sendError(reply, request, new ApiError(404, 'not_found', `no route ${request.method} ${path}`));
  });
}

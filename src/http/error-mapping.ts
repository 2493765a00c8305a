import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CustodyError, errorCatalog } from '../errors.js';
import type { ErrorCode } from '../errors.js';

export interface ErrorPayload {
  error: { code: ErrorCode; message: string; param?: string; request_id: string };
}

export function errorPayload(code: ErrorCode, message: string, requestId: string, param?: string): ErrorPayload {
  return { error: { code, message, ...(param === undefined ? {} : { param }), request_id: requestId } };
}

export function sendError(reply: FastifyReply, code: ErrorCode, message: string, param?: string): FastifyReply {
  return reply.code(errorCatalog[code].status).send(errorPayload(code, message, String(reply.request.id), param));
}

interface AjvError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: { missingProperty?: string; additionalProperty?: string };
}

/** `/payees/0/amount` → `payees[0].amount`, as Stripe names parameters. */
function paramOf(validation: readonly AjvError[]): string | undefined {
  const first = validation[0];
  if (first === undefined) return undefined;
  const path = (first.instancePath ?? '')
    .split('/')
    .filter((part) => part.length > 0)
    .reduce((out, part) => (/^\d+$/.test(part) ? `${out}[${part}]` : out.length === 0 ? part : `${out}.${part}`), '');
  const leaf = first.params?.missingProperty ?? first.params?.additionalProperty;
  if (leaf === undefined) return path.length === 0 ? undefined : path;
  return path.length === 0 ? leaf : `${path}.${leaf}`;
}

function validationMessage(error: FastifyError, param: string | undefined): string {
  const first = (error.validation as AjvError[] | undefined)?.[0];
  if (first?.keyword === 'additionalProperties') return `Unknown parameter: ${param ?? ''}.`;
  if (first?.keyword === 'required') return `Missing required parameter: ${param ?? ''}.`;
  return `Invalid ${param ?? 'request'}: ${first?.message ?? 'does not match the schema'}.`;
}

/**
 * Every failure leaves as `{ error: { code, message, param?, request_id } }` with the
 * catalog's status. Refusals carry their own code; schema violations, malformed JSON and
 * oversized bodies get theirs; anything unexpected is logged and answered as
 * internal_error without details.
 */
export function registerErrorMapping(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof CustodyError) {
      if (error.code === 'unavailable' || error.code === 'internal_error') request.log.warn({ code: error.code }, error.message);
      return sendError(reply, error.code, error.message, error.param);
    }
    if (error.validation !== undefined) {
      const param = paramOf(error.validation as AjvError[]);
      return sendError(reply, 'invalid_request', validationMessage(error, param), param);
    }
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return sendError(reply, 'request_too_large', 'The request body is too large.');
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return sendError(reply, 'unsupported_media_type', 'Send the body as application/json.');
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return sendError(reply, 'invalid_request', 'The JSON body is empty.');
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return sendError(reply, 'invalid_request', 'The body is not valid JSON.');
      default:
        break;
    }
    if (error.statusCode === 400 && error instanceof SyntaxError) return sendError(reply, 'invalid_request', 'The body is not valid JSON.');
    if (error.statusCode === 429) return sendError(reply, 'rate_limited', 'Too many requests; slow down.');
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return sendError(reply, 'invalid_request', error.message);
    }
    request.log.error({ err: error }, 'request failed');
    return sendError(reply, 'internal_error', 'Something went wrong inside Custos; nothing was half-applied.');
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, 'not_found', `No route ${request.method} ${request.url.split('?')[0]}.`));
}

import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Clock } from '../clock.js';
import { bankScope } from '../custody/records.js';
import type { IdempotencyStart } from '../custody/records.js';
import type { Id } from '../ledger/index.js';
import { limits } from '../limits.js';
import { sendError } from './error-mapping.js';

/** Seals stored responses: they may carry a secret shown once (an API key, a webhook secret). */
export interface ResponseSealer {
  sealBlob(plaintext: string, context: string): string;
  openBlob(stored: string, context: string): string;
}

export interface IdempotencyRepository {
  startIdempotent(scope: Id, credentialId: Id, key: string, requestHash: string, nowMs: number, lockMs: number, ttlMs: number): Promise<IdempotencyStart>;
  finishIdempotent(scope: Id, credentialId: Id, key: string, status: number, body: string): Promise<void>;
  releaseIdempotent(scope: Id, credentialId: Id, key: string): Promise<void>;
}

interface Claim {
  readonly scope: Id;
  readonly credentialId: Id;
  readonly key: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    idempotencyClaim: Claim | null;
  }
}

/** JSON with sorted keys: the same parameters hash the same whatever their order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

function requestHash(request: FastifyRequest): string {
  return createHash('sha256').update(`${request.method} ${request.url}\n${canonicalJson(request.body ?? null)}`).digest('hex');
}

/** Responses that must not be replayed: they say nothing about the request itself. */
function replayable(status: number, payload: string): boolean {
  if (status >= 500 || status === 429) return false;
  return !(status === 409 && /"code":"idempotency_key_(reused|in_use)"/.test(payload));
}

/**
 * `Idempotency-Key` as API.md says: scoped to the credential that sent it; the same key and
 * body within 24 h replay the first response (with `Idempotent-Replayed: true`); another body
 * is `idempotency_key_reused`; a request still running is `idempotency_key_in_use`. Failures
 * inside Custos (5xx) are not kept, so a retry runs again.
 */
export function registerIdempotency(app: FastifyInstance, repository: IdempotencyRepository, clock: Clock, sealer: ResponseSealer): void {
  // The ciphertext is bound to its key: a stored answer cannot be replayed for another one.
  const context = (claim: Claim) => `idempotency:${claim.scope}:${claim.credentialId}:${createHash('sha256').update(claim.key).digest('hex')}`;
  app.decorateRequest('idempotencyClaim', null);
  app.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'POST') return;
    const header = request.headers['idempotency-key'];
    if (header === undefined || request.principal === null) return;
    const key = Array.isArray(header) ? header[0] ?? '' : header;
    if (key.length === 0 || key.length > limits.idempotencyKeyLengthMax || !/^[\x21-\x7e]+$/.test(key)) {
      return sendError(reply, 'invalid_request', `Idempotency-Key must be 1 to ${limits.idempotencyKeyLengthMax} printable characters.`, 'Idempotency-Key');
    }
    const principal = request.principal;
    const claim: Claim = {
      scope: principal.kind === 'platform' ? principal.platformId : bankScope,
      credentialId: principal.credentialId,
      key,
    };
    const started = await repository.startIdempotent(
      claim.scope,
      claim.credentialId,
      key,
      requestHash(request),
      clock.nowMs(),
      limits.idempotencyLockSeconds * 1000,
      limits.idempotencyTtlSeconds * 1000,
    );
    switch (started.kind) {
      case 'started':
        request.idempotencyClaim = claim;
        return;
      case 'reused':
        return sendError(reply, 'idempotency_key_reused', 'This Idempotency-Key was used with a different request.', 'Idempotency-Key');
      case 'in_use':
        return sendError(reply, 'idempotency_key_in_use', 'A request with this Idempotency-Key is still running.', 'Idempotency-Key');
      case 'replay':
        return reply
          .code(started.status)
          .header('content-type', 'application/json; charset=utf-8')
          .header('idempotent-replayed', 'true')
          .send(sealer.openBlob(started.body, context(claim)));
    }
  });
  app.addHook('onSend', async (request, reply, payload) => {
    const claim = request.idempotencyClaim;
    if (claim === null) return payload;
    request.idempotencyClaim = null;
    const body = typeof payload === 'string' ? payload : payload instanceof Buffer ? payload.toString('utf8') : null;
    if (body !== null && replayable(reply.statusCode, body)) {
      await repository.finishIdempotent(claim.scope, claim.credentialId, claim.key, reply.statusCode, sealer.sealBlob(body, context(claim)));
    } else {
      await repository.releaseIdempotent(claim.scope, claim.credentialId, claim.key);
    }
    return payload;
  });
}

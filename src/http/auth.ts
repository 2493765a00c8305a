import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CredentialService, Principal } from '../custody/credential-service.js';
import { roleAtLeast } from '../custody/credential-service.js';
import type { Role } from '../custody/records.js';
import type { Id } from '../ledger/index.js';
import { sendError } from './error-mapping.js';

/** Who may call a route: anyone, a platform through its API key, or an operator of a role. */
export type Access = { readonly kind: 'public' } | { readonly kind: 'platform' } | { readonly kind: 'operator'; readonly role: Role };

export const publicAccess: Access = { kind: 'public' };
export const platformAccess: Access = { kind: 'platform' };
export const operatorAccess = (role: Role): Access => ({ kind: 'operator', role });

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** The platform a platform-key request acts for (routes behind `platformAccess` only). */
export function platformOf(request: FastifyRequest): Id {
  const principal = request.principal;
  if (principal?.kind !== 'platform') throw new Error('platformOf on a route without platform access');
  return principal.platformId;
}

export function operatorOf(request: FastifyRequest): Extract<Principal, { kind: 'operator' }> {
  const principal = request.principal;
  if (principal?.kind !== 'operator') throw new Error('operatorOf on a route without operator access');
  return principal;
}

function bearer(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer\s+(\S{16,512})\s*$/i.exec(header);
  return match?.[1] ?? null;
}

/**
 * Authentication and authorisation, checked before anything else runs. Every route declares
 * its access; one that forgets is refused to everyone (fail closed). A platform key on
 * `/v1/ops` is forbidden; an operator token on a platform route too: operators act through
 * the ops API, where every action is theirs by name.
 */
export function registerAuth(app: FastifyInstance, credentials: CredentialService): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request, reply) => {
    const access = request.routeOptions.config.access;
    if (request.routeOptions.url === undefined) return; // not found: answered by the 404 handler
    if (access === undefined) return sendError(reply, 'forbidden', 'This route declares no access.');
    if (access.kind === 'public') return;
    const secret = bearer(request);
    if (secret === null) return sendError(reply, 'unauthenticated', 'Send your API key or operator token as `Authorization: Bearer …`.');
    const principal = await credentials.authenticate(secret);
    if (principal === null) return sendError(reply, 'unauthenticated', 'The credential is unknown or revoked.');
    request.principal = principal;
    if (access.kind === 'platform' && principal.kind !== 'platform') {
      return sendError(reply, 'forbidden', 'This route takes a platform API key; operators use /v1/ops.');
    }
    if (access.kind === 'operator') {
      if (principal.kind !== 'operator') return sendError(reply, 'forbidden', 'Platform keys may not use /v1/ops.');
      if (!roleAtLeast(principal.role, access.role)) {
        return sendError(reply, 'forbidden', `This needs the ${access.role} role; yours is ${principal.role}.`);
      }
    }
    return;
  });
}

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { limits } from '../limits.js';
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
 * Failed sign-ins per address, counted in fixed windows, so that guessing keys is throttled
 * even though every guess looks like a new credential to the per-key rate limit.
 */
class FailedAuthentications {
  private readonly windows = new Map<string, { startedMs: number; count: number }>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly addressesMax: number,
  ) {}

  /** Counts a failure; true when the address is over its budget. */
  fail(address: string, nowMs: number): boolean {
    let window = this.windows.get(address);
    if (window === undefined || nowMs - window.startedMs >= this.windowMs) {
      if (this.windows.size >= this.addressesMax) this.windows.delete(this.windows.keys().next().value as string);
      window = { startedMs: nowMs, count: 0 };
      this.windows.delete(address);
      this.windows.set(address, window);
    }
    window.count++;
    return window.count > this.max;
  }

  blocked(address: string, nowMs: number): boolean {
    const window = this.windows.get(address);
    return window !== undefined && nowMs - window.startedMs < this.windowMs && window.count >= this.max;
  }
}

/**
 * Authentication and authorisation, before anything else of a route runs but after the
 * rate limit (so floods are refused before they cost a database lookup). Every route
 * declares its access; one that forgets is refused to everyone (fail closed). A platform key
 * on `/v1/ops` is forbidden; an operator token on a platform route too: operators act
 * through the ops API, where every action is theirs by name.
 */
export function registerAuth(app: FastifyInstance, credentials: CredentialService): void {
  app.decorateRequest('principal', null);
  const failures = new FailedAuthentications(limits.authFailuresPerWindowMax, limits.authFailureWindowMs, limits.authFailureAddressesMax);
  const refuse = (request: FastifyRequest, reply: FastifyReply, message: string) => {
    if (failures.fail(request.ip, Date.now())) {
      return sendError(reply.header('retry-after', Math.ceil(limits.authFailureWindowMs / 1000)), 'rate_limited', 'Too many failed sign-ins from this address; wait.');
    }
    return sendError(reply, 'unauthenticated', message);
  };
  const authenticate = async (request: FastifyRequest, reply: FastifyReply) => {
    const access = request.routeOptions.config.access;
    if (access === undefined) return sendError(reply, 'forbidden', 'This route declares no access.');
    if (access.kind === 'public') return;
    if (failures.blocked(request.ip, Date.now())) {
      return sendError(reply.header('retry-after', Math.ceil(limits.authFailureWindowMs / 1000)), 'rate_limited', 'Too many failed sign-ins from this address; wait.');
    }
    const secret = bearer(request);
    if (secret === null) return refuse(request, reply, 'Send your API key or operator token as `Authorization: Bearer …`.');
    const principal = await credentials.authenticate(secret);
    if (principal === null) return refuse(request, reply, 'The credential is unknown or revoked.');
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
  };
  // A route-level hook, appended after the rate limit's own (registered earlier).
  app.addHook('onRoute', (route) => {
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [...existing, authenticate];
  });
}

import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { CustodyError } from '../errors.js';
import { newId } from '../ids.js';
import type { Id } from '../ledger/index.js';
import { bankScope, roles } from './records.js';
import type { CredentialRecord, Role } from './records.js';

/** The storage this service needs. */
export interface CredentialRepository {
  insertCredential(credential: CredentialRecord): Promise<void>;
  findCredentialBySecretHash(secretHash: string): Promise<CredentialRecord | undefined>;
  listCredentials(platformId: Id, kind: CredentialRecord['kind']): Promise<CredentialRecord[]>;
  revokeCredential(platformId: Id, id: Id, kind: CredentialRecord['kind'], atMs: number): Promise<CredentialRecord | undefined>;
  countActiveOperators(): Promise<number>;
}

/** Who is calling: a platform through one of its API keys, or a bank operator. */
export type Principal =
  | { readonly kind: 'platform'; readonly platformId: Id; readonly credentialId: Id }
  | { readonly kind: 'operator'; readonly credentialId: Id; readonly role: Role; readonly name: string };

/** Roles are cumulative: viewer ⊂ operator ⊂ approver ⊂ admin. */
export function roleAtLeast(role: Role, needed: Role): boolean {
  return roles.indexOf(role) >= roles.indexOf(needed);
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (roles as readonly string[]).includes(value);
}

/** A new secret and what is kept of it: only its SHA-256 (the secret has 256 random bits). */
export interface IssuedSecret {
  readonly record: CredentialRecord;
  /** Shown once, never stored. */
  readonly secret: string;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

function newSecret(prefix: string): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

/** Prefixes say what a secret is, so a leaked one is recognised by scanners and people. */
export const secretPrefixes = { liveKey: 'ck_live_', testKey: 'ck_test_', operator: 'cot_' } as const;

/** The known prefix and four characters: enough to recognise a secret, useless to use it. */
function displayPrefix(secret: string): string {
  const known = Object.values(secretPrefixes).find((prefix) => secret.startsWith(prefix)) ?? '';
  return secret.slice(0, known.length + 4);
}

/**
 * Platform API keys and operator tokens: issued with a secret shown once, stored hashed,
 * revocable, and resolved to a principal on every request.
 */
export class CredentialService {
  constructor(
    private readonly repository: CredentialRepository,
    private readonly clock: Clock,
    private readonly sandbox: boolean,
  ) {}

  apiKey(platformId: Id, name: string): IssuedSecret {
    const secret = newSecret(this.sandbox ? secretPrefixes.testKey : secretPrefixes.liveKey);
    return { secret, record: this.record(platformId, 'api_key', name, null, secret) };
  }

  async issueApiKey(platformId: Id, name: string): Promise<IssuedSecret> {
    const issued = this.apiKey(platformId, name);
    await this.repository.insertCredential(issued.record);
    return issued;
  }

  async issueOperatorToken(name: string, role: Role, secret?: string): Promise<IssuedSecret> {
    const token = secret ?? newSecret(secretPrefixes.operator);
    const issued = { secret: token, record: this.record(bankScope, 'operator', name, role, token) };
    await this.repository.insertCredential(issued.record);
    return issued;
  }

  /**
   * At start: `CUSTOS_ADMIN_TOKEN` names an admin operator's token (created if it is new).
   * Without it, a database with no operator gets an admin token generated, to be printed once.
   */
  async bootstrapAdmin(adminToken: string | undefined): Promise<{ generated: string | null }> {
    if (adminToken !== undefined) {
      if (adminToken.length < 16) throw new Error('CUSTOS_ADMIN_TOKEN must be at least 16 characters');
      const known = await this.repository.findCredentialBySecretHash(hashSecret(adminToken));
      if (known === undefined) await this.issueOperatorToken('admin (CUSTOS_ADMIN_TOKEN)', 'admin', adminToken);
      else if (known.revokedAtMs !== null || known.role !== 'admin') {
        throw new Error('CUSTOS_ADMIN_TOKEN names a revoked or non-admin credential');
      }
      return { generated: null };
    }
    if ((await this.repository.countActiveOperators()) > 0) return { generated: null };
    const issued = await this.issueOperatorToken('admin (generated at first start)', 'admin');
    return { generated: issued.secret };
  }

  async authenticate(secret: string): Promise<Principal | null> {
    const credential = await this.repository.findCredentialBySecretHash(hashSecret(secret));
    if (credential === undefined || credential.revokedAtMs !== null) return null;
    if (credential.kind === 'api_key') {
      return { kind: 'platform', platformId: credential.platformId, credentialId: credential.id };
    }
    if (credential.role === null) return null;
    return { kind: 'operator', credentialId: credential.id, role: credential.role, name: credential.name };
  }

  async listApiKeys(platformId: Id): Promise<CredentialRecord[]> {
    return this.repository.listCredentials(platformId, 'api_key');
  }

  async listOperators(): Promise<CredentialRecord[]> {
    return this.repository.listCredentials(bankScope, 'operator');
  }

  async revokeApiKey(platformId: Id, keyId: Id): Promise<CredentialRecord> {
    if (platformId === bankScope) throw new CustodyError('not_found', 'No such platform.', 'id');
    const revoked = await this.repository.revokeCredential(platformId, keyId, 'api_key', this.clock.nowMs());
    if (revoked === undefined) throw new CustodyError('not_found', 'No such API key.', 'key_id');
    return revoked;
  }

  async revokeOperator(operatorId: Id): Promise<CredentialRecord> {
    const revoked = await this.repository.revokeCredential(bankScope, operatorId, 'operator', this.clock.nowMs());
    if (revoked === undefined) throw new CustodyError('not_found', 'No such operator.', 'id');
    return revoked;
  }

  private record(platformId: Id, kind: CredentialRecord['kind'], name: string, role: Role | null, secret: string): CredentialRecord {
    return {
      platformId,
      id: newId(this.clock.nowMs()),
      kind,
      name,
      role,
      secretHash: hashSecret(secret),
      secretPrefix: displayPrefix(secret),
      createdAtMs: this.clock.nowMs(),
      revokedAtMs: null,
    };
  }
}

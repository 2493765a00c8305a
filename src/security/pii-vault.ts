import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Encryption of personal data at rest (ID numbers, phones, card numbers, names) and keyed
 * lookup hashes over them.
 *
 * One 32-byte master key is the only secret. HKDF-SHA256 derives from it an AES-256-GCM key
 * and an HMAC-SHA256 key under different labels, so a lookup hash never reveals anything
 * about the encryption key, and a database dump without the master key yields neither the
 * values nor a way to test guesses against their hashes.
 */

const formatVersion = 'v1';
const masterKeyBytes = 32;
const ivBytes = 12;
const tagBytes = 16;
/** Personal fields are short; a bound keeps a bug from encrypting whole documents. */
const plaintextBytesMax = 4096;
/** The longest stored form a `plaintextBytesMax` value can have, with room for the header. */
const storedLengthMax = 64 + Math.ceil(((plaintextBytesMax + tagBytes) * 4) / 3);
const encryptionInfo = 'custos pii v1 aes-256-gcm';
const lookupInfo = 'custos pii v1 hmac-sha256 lookup';
const contextLengthMax = 256;

export const encryptionKeyEnvName = 'CUSTOS_ENCRYPTION_KEY';
export const encryptionKeyFileName = 'encryption.key';

export type PiiVaultErrorReason = 'malformed' | 'unknown_version' | 'unknown_key' | 'authentication_failed';

/**
 * Why a stored value could not be decrypted. The message never contains the stored value,
 * the context or any plaintext, so it is safe to log.
 */
export class PiiVaultError extends Error {
  override readonly name = 'PiiVaultError';
  readonly reason: PiiVaultErrorReason;

  constructor(reason: PiiVaultErrorReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

export interface PiiVaultOptions {
  /**
   * Master keys this vault no longer encrypts with but still decrypts, during a rotation.
   * Lookup hashes always use the current key, so they must be recomputed when it changes.
   */
  readonly retiredKeys?: readonly Buffer[];
}

/** The first 8 hex characters of SHA-256 of a master key: names the key without revealing it. */
export function masterKeyId(masterKey: Buffer): string {
  return createHash('sha256').update(masterKey).digest('hex').slice(0, 8);
}

export class PiiVault {
  /** Which master key new ciphertexts are under; written into each one. */
  readonly keyId: string;
  // Private fields (not `private`) so the keys do not show in console.log, util.inspect or
  // JSON.stringify of a vault that ends up in a log line or an error report.
  readonly #encryptionKey: Buffer;
  readonly #lookupKey: Buffer;
  readonly #encryptionKeysById: ReadonlyMap<string, Buffer>;

  constructor(masterKey: Buffer, options: PiiVaultOptions = {}) {
    const current = deriveKeys(masterKey);
    this.keyId = current.keyId;
    this.#encryptionKey = current.encryptionKey;
    this.#lookupKey = current.lookupKey;
    const byId = new Map<string, Buffer>([[current.keyId, current.encryptionKey]]);
    for (const retired of options.retiredKeys ?? []) {
      const keys = deriveKeys(retired);
      const known = byId.get(keys.keyId);
      // Two different keys with one id would make decryption pick the wrong one.
      if (known !== undefined && !known.equals(keys.encryptionKey)) {
        throw new Error('PiiVault: two master keys share a key id; generate a new key');
      }
      byId.set(keys.keyId, keys.encryptionKey);
    }
    this.#encryptionKeysById = byId;
  }

  /**
   * Encrypts `plaintext` with a fresh random IV. `context` names where the value lives
   * (`member:<id>:id_number`) and is authenticated with it, so a ciphertext copied to
   * another row or field fails to decrypt instead of showing one member another's data.
   */
  encrypt(plaintext: string, context: string): string {
    if (Buffer.byteLength(plaintext, 'utf8') > plaintextBytesMax) {
      throw new Error(`PiiVault: plaintext longer than ${plaintextBytesMax} bytes`);
    }
    return this.#seal(plaintext, context);
  }

  /**
   * `encrypt` for a value of any size that is kept for a while and then dropped, such as a
   * stored API response that may carry a secret shown once (idempotent replays).
   */
  sealBlob(plaintext: string, context: string): string {
    return this.#seal(plaintext, context);
  }

  /** Opens what `sealBlob` returned for the same `context`; throws `PiiVaultError` otherwise. */
  openBlob(stored: string, context: string): string {
    return this.#open(stored, context, Number.MAX_SAFE_INTEGER);
  }

  #seal(plaintext: string, context: string): string {
    assertContext(context);
    const data = Buffer.from(plaintext, 'utf8');
    const iv = randomBytes(ivBytes);
    const cipher = createCipheriv('aes-256-gcm', this.#encryptionKey, iv, { authTagLength: tagBytes });
    cipher.setAAD(additionalData(context));
    const body = Buffer.concat([cipher.update(data), cipher.final(), cipher.getAuthTag()]);
    return `${formatVersion}.${this.keyId}.${iv.toString('base64url')}.${body.toString('base64url')}`;
  }

  /** Decrypts what `encrypt` returned for the same `context`; throws `PiiVaultError` otherwise. */
  decrypt(stored: string, context: string): string {
    return this.#open(stored, context, storedLengthMax);
  }

  #open(stored: string, context: string, lengthMax: number): string {
    assertContext(context);
    const parts = stored.length <= lengthMax ? stored.split('.') : [];
    const [version, keyId, ivText, bodyText] = parts;
    if (version !== formatVersion && version !== undefined && /^v\d+$/.test(version)) {
      throw new PiiVaultError('unknown_version', 'PiiVault: stored value has an unsupported format version');
    }
    if (parts.length !== 4 || version !== formatVersion || keyId === undefined) {
      throw new PiiVaultError('malformed', 'PiiVault: stored value is not v1.<key id>.<iv>.<ciphertext>');
    }
    const key = this.#encryptionKeysById.get(keyId);
    if (key === undefined) {
      // Key ids are fingerprints meant to be stored, so naming them leaks nothing.
      throw new PiiVaultError(
        'unknown_key',
        `PiiVault: stored value is under key ${keyId}, which this vault (key ${this.keyId}) does not hold`,
      );
    }
    const iv = decodeBase64url(ivText);
    const body = decodeBase64url(bodyText);
    if (iv === undefined || iv.length !== ivBytes || body === undefined || body.length < tagBytes) {
      throw new PiiVaultError('malformed', 'PiiVault: stored value has a malformed IV or ciphertext');
    }
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: tagBytes });
    decipher.setAAD(additionalData(context));
    decipher.setAuthTag(body.subarray(body.length - tagBytes));
    try {
      const data = Buffer.concat([decipher.update(body.subarray(0, body.length - tagBytes)), decipher.final()]);
      return data.toString('utf8');
    } catch {
      throw new PiiVaultError(
        'authentication_failed',
        'PiiVault: stored value failed authentication: it was altered, or it belongs to another context',
      );
    }
  }

  /**
   * A deterministic keyed hash (hex HMAC-SHA256) of `kind:value`, so a column such as
   * `id_number_hash` can be searched with `=` without decrypting anything. `kind` keeps equal
   * values of different fields apart. The value is folded first (NFKC, whitespace removed,
   * upper case: `x` and `X` end an ID number alike); anything beyond that, such as dropping
   * `+86`, is the caller's `normalize*` from the identity validators.
   */
  lookupHash(kind: string, value: string): string {
    if (!/^[a-z][a-z0-9_]{0,39}$/.test(kind)) {
      throw new Error('PiiVault: lookup kind must be a lower-case identifier such as id_number');
    }
    const folded = value.normalize('NFKC').replace(/\s+/g, '').toUpperCase();
    return createHmac('sha256', this.#lookupKey).update(`${kind}:${folded}`, 'utf8').digest('hex');
  }
}

function deriveKeys(masterKey: Buffer): { keyId: string; encryptionKey: Buffer; lookupKey: Buffer } {
  if (!Buffer.isBuffer(masterKey) || masterKey.length !== masterKeyBytes) {
    throw new Error(`PiiVault: a master key must be ${masterKeyBytes} bytes`);
  }
  // The master key is already uniformly random, so HKDF needs no salt (RFC 5869, 3.1).
  const derive = (info: string): Buffer =>
    Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), info, masterKeyBytes));
  const encryptionKey = derive(encryptionInfo);
  const lookupKey = derive(lookupInfo);
  if (encryptionKey.equals(lookupKey)) throw new Error('PiiVault: derived keys must differ');
  return { keyId: masterKeyId(masterKey), encryptionKey, lookupKey };
}

function assertContext(context: string): void {
  // An empty context would bind nothing, and every caller has a row and a field to name.
  if (context.length === 0 || context.length > contextLengthMax) {
    throw new Error(`PiiVault: context must be 1 to ${contextLengthMax} characters`);
  }
}

/** The version is authenticated too, so a future format can never be confused with this one. */
function additionalData(context: string): Buffer {
  return Buffer.from(`${formatVersion}:${context}`, 'utf8');
}

/**
 * Node decodes base64url leniently (it skips foreign characters and ignores spare bits), so
 * only the canonical spelling is accepted: one stored value, one meaning.
 */
function decodeBase64url(text: string | undefined): Buffer | undefined {
  if (text === undefined || !/^[A-Za-z0-9_-]+$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}

// ---------------------------------------------------------------------------------------
// Loading the master key.

export interface LoadMasterKeyOptions {
  /** The value of CUSTOS_ENCRYPTION_KEY; empty counts as unset. */
  readonly env?: string | undefined;
  /** Where `encryption.key` is read from, or created in. */
  readonly dataDir?: string | undefined;
  /** Whether a missing key may be generated into `dataDir` (sandbox and first local runs). */
  readonly allowGenerate: boolean;
}

export type MasterKeySource = 'env' | 'file' | 'generated';

const keyFormat = '32 bytes written as 64 hexadecimal characters or as base64 (44 characters)';

/**
 * Finds the master key: CUSTOS_ENCRYPTION_KEY first, then `<dataDir>/encryption.key`, then,
 * when allowed, a new key written to that file once. Losing the key loses every encrypted
 * value, so a generated key is on disk (synced) before anything can be encrypted with it.
 */
export async function loadMasterKey(
  options: LoadMasterKeyOptions,
): Promise<{ key: Buffer; source: MasterKeySource }> {
  const env = options.env?.trim() ?? '';
  if (env !== '') {
    const key = parseMasterKey(env);
    // The value is never echoed: a near-miss of a real key is still most of that key.
    if (key === undefined) {
      throw new Error(`${encryptionKeyEnvName} must be ${keyFormat}; generate one with \`openssl rand -hex 32\``);
    }
    return { key, source: 'env' };
  }
  const dataDir = options.dataDir ?? '';
  const path = dataDir === '' ? undefined : join(dataDir, encryptionKeyFileName);
  const fromFile = path === undefined ? undefined : await readKeyFile(path);
  if (fromFile !== undefined) return { key: fromFile, source: 'file' };
  if (path === undefined || !options.allowGenerate) {
    const where = path === undefined ? '' : ` (or ${path} must exist)`;
    throw new Error(`${encryptionKeyEnvName} is required${where}: ${keyFormat}`);
  }
  return generateKeyFile(dataDir, path);
}

/** 64 hex characters, or canonical base64/base64url of exactly 32 bytes; else undefined. */
function parseMasterKey(text: string): Buffer | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  const canonical = text.replace(/=$/, '').replace(/-/g, '+').replace(/_/g, '/');
  return bytes.length === masterKeyBytes && bytes.toString('base64').replace(/=$/, '') === canonical
    ? bytes
    : undefined;
}

async function readKeyFile(path: string): Promise<Buffer | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  const key = parseMasterKey(text.trim());
  if (key === undefined) throw new Error(`${path} must hold ${keyFormat}`);
  return key;
}

/**
 * Writes a new key to a private temporary file, syncs it, then publishes it under its final
 * name with `link`, which (unlike `rename`) fails when the name exists: two processes
 * starting together both end up with the one key that was published first.
 */
async function generateKeyFile(dataDir: string, path: string): Promise<{ key: Buffer; source: MasterKeySource }> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(masterKeyBytes);
  const temporary = join(dataDir, `${encryptionKeyFileName}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temporary, 'wx', 0o600);
  try {
    try {
      await handle.writeFile(`${key.toString('hex')}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (!(await publishWithoutOverwrite(temporary, path))) {
      const winner = await readKeyFile(path);
      if (winner === undefined) throw new Error(`${path} vanished while it was being created`);
      return { key: winner, source: 'file' };
    }
    await syncDirectory(dataDir);
    return { key, source: 'generated' };
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
}

/** True when `temporary` now sits at `path`; false when `path` already existed. */
async function publishWithoutOverwrite(temporary: string, path: string): Promise<boolean> {
  try {
    await link(temporary, path);
    return true;
  } catch (error) {
    const code = errorCode(error);
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw error;
  }
  // A filesystem without hard links: `rename` is still atomic, but only this check guards an
  // existing file, which leaves a window against a concurrent start there.
  const exists = await stat(path).then(
    () => true,
    (error: unknown) => (errorCode(error) === 'ENOENT' ? false : Promise.reject(error)),
  );
  if (exists) return false;
  await rename(temporary, path);
  return true;
}

/** Makes the new directory entry durable; platforms that cannot open a directory skip it. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined);
  if (handle === undefined) return;
  try {
    await handle.sync().catch(() => undefined);
  } finally {
    await handle.close();
  }
}

function errorCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

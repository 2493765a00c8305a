import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadMasterKey, masterKeyId, PiiVault, PiiVaultError } from '../../src/security/pii-vault.js';
import type { PiiVaultErrorReason } from '../../src/security/pii-vault.js';

const masterKey = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');
const otherKey = Buffer.from('ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100', 'hex');
const context = 'member:mbr_01:id_number';
const base64Alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Sets the lowest spare bit of the last character: same bytes, different text. */
function setSpareBit(encoded: string): string {
  const last = base64Alphabet.indexOf(encoded.slice(-1));
  return encoded.slice(0, -1) + (base64Alphabet[last ^ 0x01] ?? '');
}
const idNumber = '11010519491231002X';

function decryptFailure(vault: PiiVault, stored: string, ctx: string = context): PiiVaultErrorReason | 'none' {
  try {
    vault.decrypt(stored, ctx);
    return 'none';
  } catch (error) {
    expect(error).toBeInstanceOf(PiiVaultError);
    const message = (error as Error).message;
    // Nothing personal or secret may reach a log through the message.
    expect(message).not.toContain(idNumber);
    if (stored.length > 0) expect(message).not.toContain(stored);
    expect(message).not.toContain(ctx);
    return (error as PiiVaultError).reason;
  }
}

/** Flips one bit of byte `index` of a base64url field of the stored form. */
function flipBit(stored: string, field: 2 | 3, index: number): string {
  const parts = stored.split('.');
  const bytes = Buffer.from(parts[field] ?? '', 'base64url');
  bytes[index] = (bytes[index] ?? 0) ^ 0x01;
  parts[field] = bytes.toString('base64url');
  return parts.join('.');
}

describe('PiiVault encryption', () => {
  const vault = new PiiVault(masterKey);

  it('round-trips, in the self-describing v1 format', () => {
    const stored = vault.encrypt(idNumber, context);
    expect(stored).toMatch(/^v1\.[0-9a-f]{8}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    expect(stored.split('.')[1]).toBe(vault.keyId);
    expect(stored).not.toContain(idNumber);
    expect(vault.decrypt(stored, context)).toBe(idNumber);
  });

  it('round-trips any text, Chinese and empty included', () => {
    for (const text of ['', '张三', '欧阳娜娜', '𠮷野家', 'a'.repeat(4096)]) {
      expect(vault.decrypt(vault.encrypt(text, context), context)).toBe(text);
    }
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 64 }), (text) => {
        expect(vault.decrypt(vault.encrypt(text, context), context)).toBe(text);
      }),
    );
  });

  it('encrypts the same value differently each time', () => {
    const a = vault.encrypt(idNumber, context);
    const b = vault.encrypt(idNumber, context);
    expect(a).not.toBe(b);
    expect(a.split('.')[2]).not.toBe(b.split('.')[2]);
  });

  it('decrypts with a second vault built from the same key', () => {
    expect(new PiiVault(Buffer.from(masterKey)).decrypt(vault.encrypt(idNumber, context), context)).toBe(idNumber);
  });

  it('refuses a ciphertext moved to another row or field', () => {
    const stored = vault.encrypt(idNumber, context);
    expect(decryptFailure(vault, stored, 'member:mbr_02:id_number')).toBe('authentication_failed');
    expect(decryptFailure(vault, stored, 'member:mbr_01:phone')).toBe('authentication_failed');
  });

  it('refuses a tampered ciphertext, tag or IV', () => {
    const stored = vault.encrypt(idNumber, context);
    const bodyLength = Buffer.from(stored.split('.')[3] ?? '', 'base64url').length;
    expect(decryptFailure(vault, flipBit(stored, 3, 0))).toBe('authentication_failed'); // ciphertext
    expect(decryptFailure(vault, flipBit(stored, 3, bodyLength - 1))).toBe('authentication_failed'); // tag
    expect(decryptFailure(vault, flipBit(stored, 2, 0))).toBe('authentication_failed'); // IV
    expect(decryptFailure(vault, flipBit(stored, 2, 11))).toBe('authentication_failed');
  });

  it('refuses every single-bit change of the ciphertext and tag', () => {
    const stored = vault.encrypt('13812345678', context);
    const bodyLength = Buffer.from(stored.split('.')[3] ?? '', 'base64url').length;
    for (let i = 0; i < bodyLength; i++) {
      expect(decryptFailure(vault, flipBit(stored, 3, i))).toBe('authentication_failed');
    }
  });

  it('refuses a ciphertext made under another key, naming only the key ids', () => {
    const stranger = new PiiVault(otherKey);
    expect(stranger.keyId).not.toBe(vault.keyId);
    expect(decryptFailure(vault, stranger.encrypt(idNumber, context))).toBe('unknown_key');
    // A key id swapped in by hand does not fool the vault into trying the wrong key.
    const relabelled = stranger.encrypt(idNumber, context).replace(`.${stranger.keyId}.`, `.${vault.keyId}.`);
    expect(decryptFailure(vault, relabelled)).toBe('authentication_failed');
  });

  it('refuses unknown versions and malformed values', () => {
    const stored = vault.encrypt(idNumber, context);
    const [, keyId, iv, body] = stored.split('.');
    expect(decryptFailure(vault, `v2.${keyId}.${iv}.${body}`)).toBe('unknown_version');
    expect(decryptFailure(vault, `v0.${keyId}.${iv}.${body}`)).toBe('unknown_version');
    for (const bad of [
      '',
      idNumber,
      `${keyId}.${iv}.${body}`,
      `v1.${keyId}.${iv}`,
      `v1.${keyId}.${iv}.${body}.extra`,
      `V1.${keyId}.${iv}.${body}`,
      `v1.${keyId}..${body}`,
      `v1.${keyId}.${iv}.`,
      `v1.${keyId}.${iv}.${body}=`, // padding is not part of base64url here
      `v1.${keyId}.${iv}.${body}!`,
      `v1.${keyId}.${iv?.slice(0, 12)}.${body}`, // a 9-byte IV
      `v1.${keyId}.${iv}.${Buffer.alloc(15).toString('base64url')}`, // shorter than a tag
      `v1.${keyId}.${iv}.${'A'.repeat(10_000)}`,
    ]) {
      expect(decryptFailure(vault, bad), bad).toBe('malformed');
    }
  });

  it('refuses a non-canonical base64url spelling', () => {
    // One byte of body leaves spare bits in the last character; setting them keeps the
    // bytes but changes the text, which the vault refuses rather than half-accepts.
    const stored = vault.encrypt('', context);
    const body = stored.split('.')[3] ?? '';
    expect(body).toHaveLength(22); // 16 bytes: 22 characters, 4 spare bits
    const sloppy = setSpareBit(body);
    expect(Buffer.from(sloppy, 'base64url').equals(Buffer.from(body, 'base64url'))).toBe(true);
    expect(decryptFailure(vault, stored.replace(body, sloppy))).toBe('malformed');
  });

  it('refuses an empty context and oversized plaintext', () => {
    expect(() => vault.encrypt(idNumber, '')).toThrow(/context/);
    expect(() => vault.decrypt(vault.encrypt(idNumber, context), '')).toThrow(/context/);
    expect(() => vault.encrypt('a'.repeat(4097), context)).toThrow(/4096 bytes/);
  });

  it('refuses a master key that is not 32 bytes', () => {
    expect(() => new PiiVault(Buffer.alloc(31))).toThrow(/32 bytes/);
    expect(() => new PiiVault(Buffer.alloc(33))).toThrow(/32 bytes/);
  });

  it('names its key by the first 8 hex characters of SHA-256 of the master key', () => {
    const expected = createHash('sha256').update(masterKey).digest('hex').slice(0, 8);
    expect(vault.keyId).toBe(expected);
    expect(masterKeyId(masterKey)).toBe(expected);
  });

  it('keeps its keys out of inspection and JSON', () => {
    expect(Object.keys(vault)).toEqual(['keyId']);
    expect(JSON.stringify(vault)).toBe(`{"keyId":"${vault.keyId}"}`);
    expect(inspect(vault, { showHidden: true, depth: 5 })).not.toMatch(/Buffer|<Buffer/);
  });

  it('decrypts under retired keys during a rotation, and encrypts under the current one', () => {
    const old = new PiiVault(otherKey);
    const before = old.encrypt(idNumber, context);
    const rotated = new PiiVault(masterKey, { retiredKeys: [otherKey] });
    expect(rotated.keyId).toBe(vault.keyId);
    expect(rotated.decrypt(before, context)).toBe(idNumber);
    expect(rotated.encrypt(idNumber, context).split('.')[1]).toBe(vault.keyId);
    expect(decryptFailure(vault, before)).toBe('unknown_key');
  });
});

describe('PiiVault lookup hashes', () => {
  const vault = new PiiVault(masterKey);

  it('is a deterministic hex HMAC-SHA256', () => {
    const hash = vault.lookupHash('id_number', idNumber);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(new PiiVault(Buffer.from(masterKey)).lookupHash('id_number', idNumber)).toBe(hash);
  });

  it('normalizes spaces, case of x and full-width digits', () => {
    const hash = vault.lookupHash('id_number', idNumber);
    expect(vault.lookupHash('id_number', '11010519491231002x')).toBe(hash);
    expect(vault.lookupHash('id_number', '  110105 19491231 002X ')).toBe(hash);
    expect(vault.lookupHash('id_number', '１１０１０５１９４９１２３１００２Ｘ')).toBe(hash);
    expect(vault.lookupHash('id_number', '110105194912310021')).not.toBe(hash);
    expect(vault.lookupHash('phone', '138 1234 5678')).toBe(vault.lookupHash('phone', '13812345678'));
  });

  it('differs by kind, so equal values of different fields do not collide', () => {
    expect(vault.lookupHash('phone', '13812345678')).not.toBe(vault.lookupHash('card_number', '13812345678'));
    // The separator keeps `kind` and value apart.
    expect(vault.lookupHash('a', 'b:c')).not.toBe(vault.lookupHash('a_b', 'c'));
  });

  it('differs by key, and never equals a plain hash of the value', () => {
    const hash = vault.lookupHash('id_number', idNumber);
    expect(new PiiVault(otherKey).lookupHash('id_number', idNumber)).not.toBe(hash);
    expect(hash).not.toBe(createHash('sha256').update(`id_number:${idNumber}`).digest('hex'));
  });

  it('refuses a kind that is not a lower-case identifier', () => {
    for (const kind of ['', 'ID', 'id:number', 'id number', '1id']) {
      expect(() => vault.lookupHash(kind, idNumber), kind).toThrow(/kind/);
    }
  });
});

describe('loadMasterKey', () => {
  const hexKey = masterKey.toString('hex');
  let dir = '';

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'custos-key-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads 64 hex characters from the environment, either case', async () => {
    expect(await loadMasterKey({ env: hexKey, allowGenerate: false })).toEqual({ key: masterKey, source: 'env' });
    const upper = await loadMasterKey({ env: ` ${hexKey.toUpperCase()}\n`, allowGenerate: false });
    expect(upper.key.equals(masterKey)).toBe(true);
  });

  it('reads base64 and base64url of 32 bytes from the environment', async () => {
    const key = randomBytes(32);
    for (const text of [
      key.toString('base64'),
      key.toString('base64').replace(/=$/, ''),
      key.toString('base64url'),
    ]) {
      const loaded = await loadMasterKey({ env: text, allowGenerate: false });
      expect(loaded.source).toBe('env');
      expect(loaded.key.equals(key)).toBe(true);
    }
  });

  it('prefers the environment over the key file', async () => {
    await writeFile(join(dir, 'encryption.key'), otherKey.toString('hex'));
    const loaded = await loadMasterKey({ env: hexKey, dataDir: dir, allowGenerate: true });
    expect(loaded).toEqual({ key: masterKey, source: 'env' });
  });

  it('rejects anything else, naming the variable and the format without echoing the value', async () => {
    const bad = [
      hexKey.slice(0, 62), // 31 bytes
      `${hexKey}00`, // 33 bytes
      `${hexKey.slice(0, 63)}g`,
      randomBytes(31).toString('base64'),
      randomBytes(33).toString('base64'),
      `${setSpareBit(masterKey.toString('base64url').slice(0, 43))}=`, // spare bit set: not canonical
      'correct horse battery staple',
      `${hexKey} ${hexKey}`,
    ];
    for (const value of bad) {
      const error = await loadMasterKey({ env: value, dataDir: dir, allowGenerate: true }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, value).toBeInstanceOf(Error);
      const message = (error as Error).message;
      expect(message).toContain('CUSTOS_ENCRYPTION_KEY');
      expect(message).toMatch(/64 hexadecimal characters or as base64/);
      expect(message).not.toContain(value);
      expect(message).not.toContain(value.slice(0, 16));
    }
    // A bad value never falls through to generating a key.
    expect(await readdir(dir)).toEqual([]);
  });

  it('treats an empty variable as unset', async () => {
    await expect(loadMasterKey({ env: '', allowGenerate: false })).rejects.toThrow(/CUSTOS_ENCRYPTION_KEY is required/);
    await expect(loadMasterKey({ env: '  ', dataDir: dir, allowGenerate: true })).resolves.toMatchObject({
      source: 'generated',
    });
  });

  it('generates the key file once, then reads the same key from it', async () => {
    const first = await loadMasterKey({ dataDir: dir, allowGenerate: true });
    expect(first.source).toBe('generated');
    expect(first.key).toHaveLength(32);
    const file = join(dir, 'encryption.key');
    expect((await readFile(file, 'utf8')).trim()).toBe(first.key.toString('hex'));
    const second = await loadMasterKey({ dataDir: dir, allowGenerate: true });
    expect(second.source).toBe('file');
    expect(second.key.equals(first.key)).toBe(true);
    const third = await loadMasterKey({ dataDir: dir, allowGenerate: false });
    expect(third).toEqual({ key: first.key, source: 'file' });
    // No temporary file is left behind.
    expect(await readdir(dir)).toEqual(['encryption.key']);
  });

  it.skipIf(process.platform === 'win32')('creates the key file with mode 0600', async () => {
    await loadMasterKey({ dataDir: dir, allowGenerate: true });
    expect((await stat(join(dir, 'encryption.key'))).mode & 0o777).toBe(0o600);
  });

  it('creates a missing data directory', async () => {
    const nested = join(dir, 'a', 'b');
    expect((await loadMasterKey({ dataDir: nested, allowGenerate: true })).source).toBe('generated');
    expect(await readdir(nested)).toEqual(['encryption.key']);
  });

  it('hands one key to concurrent starts, never overwriting the file', async () => {
    const loads = await Promise.all(
      Array.from({ length: 8 }, () => loadMasterKey({ dataDir: dir, allowGenerate: true })),
    );
    const onDisk = Buffer.from((await readFile(join(dir, 'encryption.key'), 'utf8')).trim(), 'hex');
    for (const loaded of loads) expect(loaded.key.equals(onDisk)).toBe(true);
    expect(loads.filter((loaded) => loaded.source === 'generated')).toHaveLength(1);
    expect(await readdir(dir)).toEqual(['encryption.key']);
  });

  it('reads a key file written by an operator, in hex or base64', async () => {
    const file = join(dir, 'encryption.key');
    await writeFile(file, `${hexKey}\n`);
    expect(await loadMasterKey({ dataDir: dir, allowGenerate: false })).toEqual({ key: masterKey, source: 'file' });
    await writeFile(file, masterKey.toString('base64'));
    expect(await loadMasterKey({ dataDir: dir, allowGenerate: true })).toEqual({ key: masterKey, source: 'file' });
  });

  it('refuses a corrupt key file instead of replacing it', async () => {
    const file = join(dir, 'encryption.key');
    await writeFile(file, 'not a key');
    await expect(loadMasterKey({ dataDir: dir, allowGenerate: true })).rejects.toThrow(/encryption\.key must hold/);
    expect(await readFile(file, 'utf8')).toBe('not a key');
  });

  it('refuses to generate when not allowed', async () => {
    await expect(loadMasterKey({ dataDir: dir, allowGenerate: false })).rejects.toThrow(
      /CUSTOS_ENCRYPTION_KEY is required/,
    );
    await expect(loadMasterKey({ allowGenerate: false })).rejects.toThrow(/CUSTOS_ENCRYPTION_KEY is required/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses to generate a key with nowhere to keep it', async () => {
    await expect(loadMasterKey({ allowGenerate: true })).rejects.toThrow(/CUSTOS_ENCRYPTION_KEY is required/);
  });
});

import { createHash, randomFillSync } from 'node:crypto';

const pool = new Uint8Array(16 * 512);
let poolOffset = pool.length;

/** Where the next 16 random bytes start in `pool` (no view is made: one per id was garbage). */
function randomBytes16(): number {
  if (poolOffset >= pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += 16;
  return at;
}

const hexDigits = Buffer.from('0123456789abcdef', 'latin1');
/** Where each byte's two digits go in the 36 characters of a UUID. */
const digitAt = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
const text = Buffer.from('00000000-0000-0000-0000-000000000000', 'latin1');

/**
 * A UUIDv7 (RFC 9562): 48 bits of milliseconds, then 74 random bits. Time-ordered, so ids
 * inserted together land together in an index, and unique without coordination.
 */
export function newId(nowMs: number = Date.now()): string {
  const at = randomBytes16();
  let ms = nowMs;
  for (let i = 5; i >= 0; i--) {
    pool[at + i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  return formatUuid(pool, at, 0x70);
}

/**
 * A UUIDv8 (RFC 9562) derived from a name: the same name always gives the same id, so a
 * step that may run twice (a day's settlement) submits the same entry twice and the ledger
 * applies it once.
 */
export function derivedId(name: string): string {
  return formatUuid(createHash('sha256').update(name).digest(), 0, 0x80);
}

/**
 * The 16 bytes at `at` as a UUID string, with the version nibble and the RFC 9562 variant
 * set in place. Written into bytes and read once: a string built by concatenation is a tree
 * of pieces that every later reader (a map lookup, a check, the hash) would first have to
 * copy flat.
 */
function formatUuid(bytes: Uint8Array, at: number, version: number): string {
  bytes[at + 6] = version | ((bytes[at + 6] ?? 0) & 0x0f);
  bytes[at + 8] = 0x80 | ((bytes[at + 8] ?? 0) & 0x3f);
  for (let i = 0; i < 16; i++) {
    const byte = bytes[at + i] ?? 0;
    const digit = digitAt[i] ?? 0;
    text[digit] = hexDigits[byte >> 4] ?? 0;
    text[digit + 1] = hexDigits[byte & 15] ?? 0;
  }
  return text.toString('latin1', 0, 36);
}

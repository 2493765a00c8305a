import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * HMAC-SHA256 signatures over a message body, carried in one header as
 * `t=<unix seconds>,v1=<hex hmac of "<t>.<body>">`. The simulators sign requests and
 * responses with it, and webhooks will sign deliveries with it. The timestamp is inside the
 * signed text, so an attacker cannot refresh an old signature; the tolerance bounds how long
 * a captured message can be replayed.
 */

/** How far a signature's timestamp may lie from the receiver's clock, either way. */
export const signatureToleranceSecondsDefault = 300;

/** Longest header accepted: a timestamp and a few signatures fit many times over. */
export const signatureHeaderLengthMax = 1024;

/** Signatures one header may carry (the sender may sign with an old and a new secret). */
export const signaturesPerHeaderMax = 4;

export type SignatureVerdict = 'ok' | 'missing' | 'malformed' | 'expired' | 'mismatch';

const hexSha256Length = 64;

function hmacHex(secret: string, timestampSeconds: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestampSeconds}.${body}`, 'utf8').digest('hex');
}

function assertSecret(secret: string): void {
  if (secret.length === 0) throw new Error('a signing secret must not be empty');
}

/** The header value that signs `body` at `timestampSeconds` with `secret`. */
export function signPayload(secret: string, body: string, timestampSeconds: number): string {
  assertSecret(secret);
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
    throw new Error('a signature timestamp is a whole number of seconds since 1970');
  }
  return `t=${timestampSeconds},v1=${hmacHex(secret, timestampSeconds, body)}`;
}

interface ParsedHeader {
  readonly timestampSeconds: number;
  readonly signatures: readonly Buffer[];
}

/** Parses `t=…,v1=…[,v1=…]`; unknown keys are skipped so a future scheme can be added. */
function parseHeader(header: string): ParsedHeader | null {
  if (header.length > signatureHeaderLengthMax) return null;
  let timestampSeconds: number | null = null;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const separator = part.indexOf('=');
    if (separator < 0) return null;
    const key = part.slice(0, separator).trim();
    const value = part.slice(separator + 1).trim();
    if (key === 't') {
      if (timestampSeconds !== null || !/^\d{1,12}$/.test(value)) return null;
      timestampSeconds = Number(value);
    } else if (key === 'v1') {
      if (value.length !== hexSha256Length || !/^[0-9a-f]+$/i.test(value)) return null;
      signatures.push(Buffer.from(value, 'hex'));
    }
  }
  if (timestampSeconds === null || signatures.length === 0) return null;
  if (signatures.length > signaturesPerHeaderMax) return null;
  return { timestampSeconds, signatures };
}

/**
 * Checks a signature header against every secret given (during a rotation the receiver
 * accepts the old and the new one). The checks run in a fixed order and the first failure
 * wins: missing, malformed, mismatch, expired. The signature is checked before the clock so
 * that `expired` only ever describes an authentic message that is too old (a replay or a
 * skewed clock), never a forgery.
 */
export function verifySignature(
  secret: string | readonly string[],
  body: string,
  header: string | undefined,
  nowSeconds: number,
  toleranceSeconds: number,
): SignatureVerdict {
  const secrets = typeof secret === 'string' ? [secret] : secret;
  if (secrets.length === 0) throw new Error('verifySignature needs at least one secret');
  for (const one of secrets) assertSecret(one);
  if (!(toleranceSeconds >= 0)) throw new Error('the signature tolerance must not be negative');

  if (header === undefined || header.length === 0) return 'missing';
  const parsed = parseHeader(header);
  if (parsed === null) return 'malformed';
  if (!matchesAny(secrets, body, parsed)) return 'mismatch';
  if (Math.abs(nowSeconds - parsed.timestampSeconds) > toleranceSeconds) return 'expired';
  return 'ok';
}

/** Compares every pair without stopping early, so the time taken does not reveal which one matched. */
function matchesAny(secrets: readonly string[], body: string, parsed: ParsedHeader): boolean {
  let matched = false;
  for (const secret of secrets) {
    const expected = Buffer.from(hmacHex(secret, parsed.timestampSeconds, body), 'hex');
    for (const signature of parsed.signatures) {
      if (timingSafeEqual(expected, signature)) matched = true;
    }
  }
  return matched;
}

/**
 * Ids as the API shows them: a type prefix and the 16 bytes of the internal UUID in
 * Crockford base32 (26 characters, time-ordered like the UUIDv7 behind them), e.g.
 * `mbr_01jdq3x5v8k2m4n6p8r0s2t4w6`. Reversible, so no mapping table is needed, and a
 * prefix mismatch tells a caller at once that an id of another kind was passed.
 */
export const idPrefixes = {
  platform: 'plt',
  member: 'mbr',
  card: 'card',
  account: 'acc',
  entry: 'ent',
  operator: 'op',
  apiKey: 'key',
  payin: 'pay',
  order: 'ord',
  refund: 'rfd',
  transfer: 'trf',
  withdrawal: 'wdr',
  adjustment: 'adj',
  event: 'evt',
  bankCredit: 'bcr',
  suspense: 'sus',
  reconciliation: 'rec',
  webhookEndpoint: 'we',
  consent: 'cns',
  statementLine: 'ln',
  alert: 'alr',
} as const;

export type IdKind = keyof typeof idPrefixes;

const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';
const values = new Map<string, number>([...alphabet].map((c, i) => [c, i]));

export function toPublicId(kind: IdKind, uuid: string): string {
  const hex = uuid.replace(/-/g, '');
  let n = BigInt(`0x${hex}`);
  let out = '';
  for (let i = 0; i < 26; i++) {
    out = alphabet[Number(n & 31n)] + out;
    n >>= 5n;
  }
  return `${idPrefixes[kind]}_${out}`;
}

/** The internal UUID of a public id of that kind, or null when it is not one. */
export function fromPublicId(kind: IdKind, publicId: unknown): string | null {
  if (typeof publicId !== 'string') return null;
  const prefix = `${idPrefixes[kind]}_`;
  if (!publicId.startsWith(prefix) || publicId.length !== prefix.length + 26) return null;
  let n = 0n;
  for (const c of publicId.slice(prefix.length)) {
    const v = values.get(c);
    if (v === undefined) return null;
    n = (n << 5n) | BigInt(v);
  }
  // 26 characters carry 130 bits: the top two must be zero for 128.
  if (n >> 128n !== 0n) return null;
  const hex = n.toString(16).padStart(32, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

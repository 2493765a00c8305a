import { hash } from 'node:crypto';
import type { Entry } from './types.js';

/**
 * The canonical form of an entry that the hash chain covers: every field a reader relies on,
 * running balances included, so that editing any stored number breaks the chain. Ids, kinds
 * and numbers never contain `|`; free text is JSON-quoted, so the form is unambiguous.
 */
export function canonicalEntry(entry: Omit<Entry, 'hash'>): string {
  let out =
    entry.platformId + '|' + entry.seq.toString() + '|' + entry.id + '|' + entry.kind + '|' +
    (entry.pendingId ?? '-') + '|' + (entry.timeoutAtMs === null ? '-' : String(entry.timeoutAtMs)) + '|' +
    quotedCommand(entry.command) + '|' + JSON.stringify(entry.reference) + '|' + JSON.stringify(entry.actor) + '|' +
    String(entry.occurredAtMs);
  for (const p of entry.postings) {
    out +=
      '|' + p.debitAccountId + '|' + p.creditAccountId + '|' + p.amountMinor.toString() + '|' +
      p.pendingReleasedMinor.toString() + '|' + p.debitPostedAfterMinor.toString() + '|' +
      p.debitPendingAfterMinor.toString() + '|' + p.creditPostedAfterMinor.toString() + '|' +
      p.creditPendingAfterMinor.toString();
  }
  return out;
}

/** hash = SHA-256(previous hash in hex ‖ `|` ‖ canonical entry), as lowercase hex. */
export function chainHash(previousHashHex: string, entry: Omit<Entry, 'hash'>): string {
  return hash('sha256', previousHashHex + '|' + canonicalEntry(entry), 'hex');
}

/** Commands JSON-quoted: a book has a few dozen, and nearly every entry repeats one. */
const quotedCommands = new Map<string, string>();
const quotedCommandsMax = 1024;

function quotedCommand(command: string): string {
  let quoted = quotedCommands.get(command);
  if (quoted === undefined) {
    quoted = JSON.stringify(command);
    if (quotedCommands.size < quotedCommandsMax) quotedCommands.set(command, quoted);
  }
  return quoted;
}

export interface ChainCheck {
  readonly ok: boolean;
  /** The first entry whose stored hash or position is wrong. */
  readonly brokenAtSeq: bigint | null;
  readonly reason: string | null;
  /** The last verified entry's seq and hash, to continue from. */
  readonly seq: bigint;
  readonly hash: string;
}

/**
 * Walks a run of consecutive entries from a known head, recomputing each hash. A gap in the
 * sequence, an edited field or a removed entry all stop the walk at the first bad entry.
 */
export function verifyChainSegment(fromSeq: bigint, fromHash: string, entries: Iterable<Entry>): ChainCheck {
  let seq = fromSeq;
  let hash = fromHash;
  for (const entry of entries) {
    if (entry.seq !== seq + 1n) {
      return { ok: false, brokenAtSeq: seq + 1n, reason: `expected seq ${seq + 1n}, found ${entry.seq}`, seq, hash };
    }
    const expected = chainHash(hash, entry);
    if (expected !== entry.hash) {
      return { ok: false, brokenAtSeq: entry.seq, reason: 'stored hash does not match the entry', seq, hash };
    }
    seq = entry.seq;
    hash = entry.hash;
  }
  return { ok: true, brokenAtSeq: null, reason: null, seq, hash };
}

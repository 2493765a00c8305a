import { isUtf8 } from 'node:buffer';
import { CustodyError } from '../errors.js';

/**
 * Statement files (API.md "Files") read as a stream: bytes to lines, lines to records, records
 * to typed lines. Nothing here holds more than one record; a bad line is refused with its
 * number (1 is the header), as `invalid_request` with `param: "file"`.
 */

export const statementCsvLimits = {
  /** Characters of one record (a quoted field may span lines): real lines are about 200. */
  recordCharsMax: 4096,
  /** A statement id (channel_txn_id, bank_txn_id) and an order number. */
  txnIdLengthMax: 64,
  orderNoLengthMax: 64,
  counterpartyAccountLengthMax: 64,
  counterpartyNameLengthMax: 128,
  memoLengthMax: 256,
  /** Largest amount of a line: amounts cross the API as JSON numbers, ≤ 2^53 − 1. */
  amountMinorMax: 2n ** 53n - 1n,
} as const;

export const channelStatementColumns = ['channel_txn_id', 'order_no', 'amount', 'status', 'occurred_at'] as const;
export const bankStatementColumns = ['bank_txn_id', 'direction', 'amount', 'counterparty_account', 'counterparty_name', 'memo', 'occurred_at'] as const;

export interface ChannelLine {
  readonly lineNo: number;
  readonly txnId: string;
  readonly orderNo: string | null;
  readonly amountMinor: bigint;
  readonly status: 'succeeded' | 'failed';
  readonly occurredAtMs: number;
}

export interface BankLine {
  readonly lineNo: number;
  readonly txnId: string;
  readonly direction: 'credit' | 'debit';
  readonly amountMinor: bigint;
  readonly counterpartyAccount: string;
  readonly counterpartyName: string;
  readonly memo: string;
  readonly occurredAtMs: number;
}

export function badLine(lineNo: number, what: string): CustodyError {
  return new CustodyError('invalid_request', `line ${lineNo}: ${what}`, 'file');
}

/**
 * Splits a byte (or text) stream into lines without their terminators (`\n` or `\r\n`),
 * decoding UTF-8 strictly. A line longer than `lineCharsMax` or more than `bytesMax` bytes in
 * all is refused: the splitter never holds more than one chunk and one unfinished line.
 * Bytes are decoded up to the last line feed of each chunk (a line feed is never part of a
 * multi-byte character), so a bad byte is reported on its own line.
 */
export async function* textLines(
  chunks: AsyncIterable<Uint8Array | string>,
  options: { readonly bytesMax: number; readonly lineCharsMax?: number },
): AsyncGenerator<string> {
  const lineCharsMax = options.lineCharsMax ?? statementCsvLimits.recordCharsMax;
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let bytes = 0;
  let carry: Uint8Array = new Uint8Array(0);
  let lineNo = 1;
  const decode = (unit: Uint8Array): string => {
    try {
      return decoder.decode(unit);
    } catch {
      throw badLine(lineNo + firstBadLine(unit), 'the file is not valid UTF-8.');
    }
  };
  for await (const chunk of chunks) {
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    bytes += data.byteLength;
    if (bytes > options.bytesMax) throw new CustodyError('request_too_large', `The statement is larger than ${options.bytesMax} bytes.`);
    const last = data.lastIndexOf(0x0a);
    if (last < 0) {
      carry = carry.byteLength === 0 ? data : Buffer.concat([carry, data]);
      if (carry.byteLength > 4 * (lineCharsMax + 1)) throw badLine(lineNo, `longer than ${lineCharsMax} characters.`);
      continue;
    }
    const unit = carry.byteLength === 0 ? data.subarray(0, last + 1) : Buffer.concat([carry, data.subarray(0, last + 1)]);
    carry = data.subarray(last + 1);
    const text = decode(unit);
    let start = 0;
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
      const line = text.slice(start, end);
      start = end + 1;
      if (line.length > lineCharsMax + 1) throw badLine(lineNo, `longer than ${lineCharsMax} characters.`);
      yield line.endsWith('\r') ? line.slice(0, -1) : line;
      lineNo++;
    }
  }
  if (carry.byteLength > 0) {
    const line = decode(carry);
    if (line.length > lineCharsMax + 1) throw badLine(lineNo, `longer than ${lineCharsMax} characters.`);
    yield line.endsWith('\r') ? line.slice(0, -1) : line;
  }
}

/** Lines before the first one of `unit` that is not UTF-8. */
function firstBadLine(unit: Uint8Array): number {
  let start = 0;
  for (let line = 0; ; line++) {
    const end = unit.indexOf(0x0a, start);
    if (!isUtf8(unit.subarray(start, end < 0 ? unit.byteLength : end)) || end < 0) return line;
    start = end + 1;
  }
}

/**
 * RFC 4180 records from lines: fields separated by commas; a field in double quotes may hold
 * commas, doubled quotes and line breaks (then the record goes on over the next line). A
 * UTF-8 byte order mark before the header is dropped. Blank lines may end the file, not
 * stand inside it.
 */
export class CsvRecordReader {
  private lineNo = 0;
  private recordStart = 0;
  private fields: string[] = [];
  private field = '';
  private quoted = false;
  /** Inside a quoted field that the last line left open. */
  private open = false;
  private recordChars = 0;
  private blankSince = 0;

  /** The number of the line last pushed (1-based). */
  get line(): number {
    return this.lineNo;
  }

  /** Takes the next line; returns the record it completes with the line it started on, or null. */
  push(text: string): { readonly lineNo: number; readonly fields: string[] } | null {
    this.lineNo++;
    let line = text;
    if (this.lineNo === 1 && line.startsWith('\uFEFF')) line = line.slice(1);
    if (!this.open) {
      if (line.length === 0) {
        if (this.blankSince === 0) this.blankSince = this.lineNo;
        return null;
      }
      if (this.blankSince !== 0) throw badLine(this.blankSince, 'a blank line inside the file.');
      this.recordStart = this.lineNo;
      this.recordChars = 0;
    } else {
      this.field += '\n';
    }
    this.recordChars += line.length + 1;
    if (this.recordChars > statementCsvLimits.recordCharsMax) {
      throw badLine(this.recordStart, `a record longer than ${statementCsvLimits.recordCharsMax} characters.`);
    }
    this.scan(line);
    if (this.open) return null;
    this.fields.push(this.field);
    const fields = this.fields;
    this.fields = [];
    this.field = '';
    this.quoted = false;
    return { lineNo: this.recordStart, fields };
  }

  /** The file ended: a quoted field still open is an error. */
  finish(): void {
    if (this.open) throw badLine(this.recordStart, 'a quoted field is never closed.');
  }

  private scan(line: string): void {
    let i = 0;
    while (i < line.length) {
      const c = line[i];
      if (this.open) {
        if (c === '"') {
          if (line[i + 1] === '"') {
            this.field += '"';
            i += 2;
            continue;
          }
          this.open = false;
          i++;
          if (i < line.length && line[i] !== ',') throw badLine(this.recordStart, 'text after a closing quote (a quote inside a quoted field is written "").');
          continue;
        }
        this.field += c;
        i++;
        continue;
      }
      if (c === ',') {
        this.fields.push(this.field);
        this.field = '';
        this.quoted = false;
        i++;
        if (i === line.length) return;
        continue;
      }
      if (c === '"') {
        if (this.field.length > 0 || this.quoted) throw badLine(this.recordStart, 'a quote inside an unquoted field.');
        this.quoted = true;
        this.open = true;
        i++;
        continue;
      }
      if (this.quoted) throw badLine(this.recordStart, 'text after a closing quote.');
      const comma = line.indexOf(',', i);
      const end = comma < 0 ? line.length : comma;
      const piece = line.slice(i, end);
      if (piece.includes('"')) throw badLine(this.recordStart, 'a quote inside an unquoted field.');
      this.field += piece;
      i = end;
    }
  }
}

const amountPattern = /^[1-9][0-9]{0,15}$/;
const instantPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** An amount in fen: digits only, no sign, no leading zero, no fraction, 1 ≤ amount ≤ 2^53 − 1. */
export function parseAmountMinor(text: string, lineNo: number): bigint {
  if (!amountPattern.test(text)) throw badLine(lineNo, `amount must be a whole number of fen above 0, not "${clip(text)}".`);
  const amount = BigInt(text);
  if (amount > statementCsvLimits.amountMinorMax) throw badLine(lineNo, 'amount is above 2^53 − 1 fen.');
  return amount;
}

/** An RFC 3339 instant, as ms since the epoch. */
export function parseInstant(text: string, lineNo: number): number {
  const ms = instantPattern.test(text) ? Date.parse(text) : Number.NaN;
  if (!Number.isFinite(ms)) throw badLine(lineNo, `occurred_at must be an RFC 3339 time, not "${clip(text)}".`);
  return ms;
}

function text(value: string, column: string, lineNo: number, lengthMax: number, required: boolean): string {
  if (required && value.length === 0) throw badLine(lineNo, `${column} is empty.`);
  if (value.length > lengthMax) throw badLine(lineNo, `${column} is longer than ${lengthMax} characters.`);
  // Control characters have no place in an id or a name (a line break in a memo is allowed).
  if (/(?![\t\n])\p{Cc}/u.test(value)) throw badLine(lineNo, `${column} holds a control character.`);
  return value;
}

function clip(value: string): string {
  return value.length > 24 ? `${value.slice(0, 24)}…` : value;
}

function checkHeader(fields: readonly string[], expected: readonly string[], lineNo: number): void {
  if (fields.length !== expected.length || fields.some((field, i) => field !== expected[i])) {
    throw badLine(lineNo, `the header must be ${expected.join(',')}.`);
  }
}

function checkWidth(fields: readonly string[], width: number, lineNo: number): void {
  if (fields.length !== width) throw badLine(lineNo, `expected ${width} fields, found ${fields.length}.`);
}

/** A channel statement's data line. */
export function channelLine(fields: readonly string[], lineNo: number): ChannelLine {
  checkWidth(fields, channelStatementColumns.length, lineNo);
  const [txnId = '', orderNo = '', amount = '', status = '', occurredAt = ''] = fields;
  const l = statementCsvLimits;
  const id = text(txnId, 'channel_txn_id', lineNo, l.txnIdLengthMax, true);
  if (/\n/.test(id)) throw badLine(lineNo, 'channel_txn_id holds a line break.');
  const order = text(orderNo, 'order_no', lineNo, l.orderNoLengthMax, false);
  const amountMinor = parseAmountMinor(amount, lineNo);
  if (status !== 'succeeded' && status !== 'failed') throw badLine(lineNo, `status must be succeeded or failed, not "${clip(status)}".`);
  return { lineNo, txnId: id, orderNo: order.length === 0 ? null : order, amountMinor, status, occurredAtMs: parseInstant(occurredAt, lineNo) };
}

/** A bank statement's data line. */
export function bankLine(fields: readonly string[], lineNo: number): BankLine {
  checkWidth(fields, bankStatementColumns.length, lineNo);
  const [txnId = '', direction = '', amount = '', account = '', name = '', memo = '', occurredAt = ''] = fields;
  const l = statementCsvLimits;
  const id = text(txnId, 'bank_txn_id', lineNo, l.txnIdLengthMax, true);
  if (/\n/.test(id)) throw badLine(lineNo, 'bank_txn_id holds a line break.');
  if (direction !== 'credit' && direction !== 'debit') throw badLine(lineNo, `direction must be credit or debit, not "${clip(direction)}".`);
  return {
    lineNo,
    txnId: id,
    direction,
    amountMinor: parseAmountMinor(amount, lineNo),
    counterpartyAccount: text(account, 'counterparty_account', lineNo, l.counterpartyAccountLengthMax, false),
    counterpartyName: text(name, 'counterparty_name', lineNo, l.counterpartyNameLengthMax, false),
    memo: text(memo, 'memo', lineNo, l.memoLengthMax, false),
    occurredAtMs: parseInstant(occurredAt, lineNo),
  };
}

/**
 * Typed lines of a statement from its lines of text: the header first (checked), then one
 * typed line per record. An empty file (no header) is refused.
 */
export async function* statementLines<T>(
  lines: AsyncIterable<string>,
  columns: readonly string[],
  typed: (fields: readonly string[], lineNo: number) => T,
): AsyncGenerator<T> {
  const reader = new CsvRecordReader();
  let headerSeen = false;
  for await (const line of lines) {
    const record = reader.push(line);
    if (record === null) continue;
    if (!headerSeen) {
      checkHeader(record.fields, columns, record.lineNo);
      headerSeen = true;
      continue;
    }
    yield typed(record.fields, record.lineNo);
  }
  reader.finish();
  if (!headerSeen) throw badLine(1, `the file is empty; it must start with the header ${columns.join(',')}.`);
}

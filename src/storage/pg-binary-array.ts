/**
 * One-dimensional arrays in PostgreSQL's binary format (what `array_recv` reads), for the
 * batch statement's parameters on a PostgreSQL server: `pg` sends a Buffer parameter as
 * binary, and the server then converts each element by copying bytes instead of parsing text
 * (a profile of the backend had put parsing the array parameters at 7% of its time).
 *
 * Layout: dimensions (1, or 0 when empty), whether any element is null, the element type,
 * then per dimension its length and lower bound (1); then each element as its byte length
 * (−1 for null) and its bytes, integers big-endian.
 */
import assert from 'node:assert/strict';
import type { ArrayCodec } from './pg-array.js';

const int2Oid = 21;
const int8Oid = 20;
const textOid = 25;
const uuidOid = 2950;

const headerBytes = 20;
const int8Max = 2n ** 63n - 1n;
const int8Min = -(2n ** 63n);
const nullLength = -1;

class ArrayWriter {
  private readonly buffer: Buffer;
  /** The same bytes: DataView writes big-endian integers, bigints included, without conversions. */
  private readonly view: DataView;
  private offset = headerBytes;

  constructor(elementOid: number, count: number, hasNull: boolean, dataBytes: number) {
    if (count === 0) {
      this.buffer = Buffer.alloc(12);
      this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
      this.view.setInt32(8, elementOid);
      this.offset = 12;
      return;
    }
    this.buffer = Buffer.allocUnsafe(headerBytes + count * 4 + dataBytes);
    this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
    this.view.setInt32(0, 1);
    this.view.setInt32(4, hasNull ? 1 : 0);
    this.view.setInt32(8, elementOid);
    this.view.setInt32(12, count);
    this.view.setInt32(16, 1);
  }

  null(): void {
    this.view.setInt32(this.offset, nullLength);
    this.offset += 4;
  }

  int2(value: number): void {
    this.view.setInt32(this.offset, 2);
    this.view.setInt16(this.offset + 4, value);
    this.offset += 6;
  }

  int8(value: bigint | number): void {
    this.view.setInt32(this.offset, 8);
    const int = typeof value === 'bigint' ? value : BigInt(value);
    // DataView would wrap a value out of range silently.
    if (int > int8Max || int < int8Min) throw new RangeError(`${int} is out of range for an int8`);
    this.view.setBigInt64(this.offset + 4, int);
    this.offset += 12;
  }

  uuid(value: string): void {
    assert.equal(value.length, 36, 'a canonical uuid');
    this.view.setInt32(this.offset, 16);
    this.offset += 4;
    for (let i = 0; i < 36; i += 2) {
      if (i === 8 || i === 13 || i === 18 || i === 23) i++;
      this.buffer[this.offset++] = (hexDigit(value.charCodeAt(i)) << 4) | hexDigit(value.charCodeAt(i + 1));
    }
  }

  /** A text element, already encoded. */
  bytes(value: Buffer): void {
    this.view.setInt32(this.offset, value.length);
    this.offset += 4;
    // Elements are short: a loop beats a call into the runtime per element.
    for (let i = 0; i < value.length; i++) this.buffer[this.offset++] = value[i] as number;
  }

  done(): Buffer {
    assert.equal(this.offset, this.buffer.length, 'the array fills its buffer exactly');
    return this.buffer;
  }
}

function hexDigit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 102) return code - 87;
  if (code >= 65 && code <= 70) return code - 55;
  throw new Error('a uuid has hexadecimal digits only');
}

// Indexed loops throughout: these run over every column of every batch, and an array
// iterator in a function called with several element types allocated a result per element.
function countNulls(values: readonly unknown[]): number {
  let nulls = 0;
  for (let i = 0; i < values.length; i++) if (values[i] === null || values[i] === undefined) nulls++;
  return nulls;
}

/** An array of a type whose every value takes `width` bytes. */
function fixedWidth<T>(
  oid: number,
  width: number,
  values: readonly (T | null)[],
  write: (writer: ArrayWriter, value: T) => void,
): Buffer {
  const nulls = countNulls(values);
  const writer = new ArrayWriter(oid, values.length, nulls > 0, (values.length - nulls) * width);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === null || value === undefined) writer.null();
    else write(writer, value);
  }
  return writer.done();
}

const int8Array = (values: readonly (bigint | number | null)[]): Buffer =>
  fixedWidth(int8Oid, 8, values, (writer, value) => writer.int8(value));
const int2Array = (values: readonly number[]): Buffer => fixedWidth(int2Oid, 2, values, (writer, value) => writer.int2(value));
const uuidArray = (values: readonly (string | null)[]): Buffer =>
  fixedWidth(uuidOid, 16, values, (writer, value) => writer.uuid(value));

/**
 * Text columns repeat a few values (an entry's kind, its command): each distinct value is
 * encoded once, and its bytes copied for the others.
 */
function textArray(values: readonly (string | null)[]): Buffer {
  const encoded = new Map<string, Buffer>();
  let dataBytes = 0;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === null || value === undefined) continue;
    let bytes = encoded.get(value);
    if (bytes === undefined) {
      bytes = Buffer.from(value, 'utf8');
      encoded.set(value, bytes);
    }
    dataBytes += bytes.length;
  }
  const writer = new ArrayWriter(textOid, values.length, countNulls(values) > 0, dataBytes);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === null || value === undefined) writer.null();
    else writer.bytes(encoded.get(value) as Buffer);
  }
  return writer.done();
}

/** Binary arrays, for a PostgreSQL server through `pg`. */
export const binaryArrays: ArrayCodec = { int8: int8Array, int2: int2Array, uuid: uuidArray, text: textArray };

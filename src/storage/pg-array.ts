/**
 * Array literals for PostgreSQL, built as one string per column. Both drivers pass a string
 * through untouched, so a batch of thousands of rows costs one parameter per column, parsed
 * by PostgreSQL's `unnest` instead of by a driver's per-element serializer.
 */

/** `{1,2,3}` for ids, integers and hex strings: values that never need quoting. */
export function plainArray(values: readonly (string | number | bigint | null)[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const value = values[i];
    out += value === null || value === undefined ? 'NULL' : String(value);
  }
  return out + '}';
}

/** `{"a","b\"c",NULL}` for free text. */
export function textArray(values: readonly (string | null)[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const value = values[i];
    out += value === null || value === undefined ? 'NULL' : `"${value.replace(/[\\"]/g, '\\$&')}"`;
  }
  return out + '}';
}

/**
 * An empty array when every value is `absent`, else `encode(values)`. `unnest` pads a shorter
 * array with nulls, so the statement reads the column as null, or as `absent` through
 * `coalesce`; PostgreSQL then reads no element of a column that is all default (the pending
 * columns of a batch of plain transfers, say).
 */
export function unlessAll<T>(values: readonly T[], absent: T, encode: (values: readonly T[]) => unknown): unknown {
  for (let i = 0; i < values.length; i++) if (values[i] !== absent) return encode(values);
  return encode([]);
}

/**
 * How a statement's array parameters are sent: the same SQL (`$1::int8[]` …) reads either.
 * PGlite serializes every parameter as text itself; a PostgreSQL server through `pg` takes
 * binary ones (pg-binary-array.ts).
 */
export interface ArrayCodec {
  int8(values: readonly (bigint | number | null)[]): unknown;
  int2(values: readonly number[]): unknown;
  uuid(values: readonly (string | null)[]): unknown;
  text(values: readonly (string | null)[]): unknown;
}

/** Array literals: for PGlite, and for any driver that sends parameters as text. */
export const textArrays: ArrayCodec = { int8: plainArray, int2: plainArray, uuid: plainArray, text: textArray };

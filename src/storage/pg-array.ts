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

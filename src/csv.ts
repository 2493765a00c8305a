/** RFC 4180: a field with a comma, a quote or a line break is quoted, its quotes doubled. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** One CSV line, with its line break; null and undefined are empty fields. */
export function csvLine(values: readonly (string | bigint | number | null | undefined)[]): string {
  return `${values.map((v) => (v === null || v === undefined ? '' : csvField(String(v)))).join(',')}\n`;
}

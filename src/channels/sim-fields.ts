import { parseRfc3339Ms } from './acquiring/acquiring-simulator.js';

type Fields = Readonly<Record<string, unknown>>;

/**
 * Readers for the fields of a simulator's JSON request, each refusing a bad field through the
 * simulator's own `invalid` (which throws its request error): an object body, strings,
 * amounts as decimal strings of fen, RFC 3339 instants.
 */
export function simFieldReaders(invalid: (message: string) => never) {
  const record = (body: unknown): Fields => {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) invalid('the body must be a JSON object');
    return body as Fields;
  };
  const stringField = (fields: Fields, name: string): string => {
    const value = fields[name];
    if (typeof value !== 'string') invalid(`${name} must be a string`);
    return value;
  };
  /** Amounts travel as decimal strings; the simulator checks their range. */
  const minorField = (fields: Fields, name: string): bigint => {
    const value = stringField(fields, name);
    if (!/^\d{1,19}$/.test(value)) invalid(`${name} must be a decimal string of fen`);
    return BigInt(value);
  };
  const instantField = (fields: Fields, name: string): number => {
    const ms = parseRfc3339Ms(stringField(fields, name));
    if (ms === null) invalid(`${name} must be an RFC 3339 timestamp with a zone`);
    return ms;
  };
  return { record, stringField, minorField, instantField };
}

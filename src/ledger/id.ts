import type { Id } from './types.js';

const canonicalUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const nilId = '00000000-0000-0000-0000-000000000000';
const maxId = 'ffffffff-ffff-ffff-ffff-ffffffffffff';

/** A valid id is a canonical lowercase UUID other than the nil and the max UUID. */
export function isValidId(value: unknown): value is Id {
  return typeof value === 'string' && canonicalUuid.test(value) && value !== nilId && value !== maxId;
}

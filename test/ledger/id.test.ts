import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { derivedId, newId } from '../../src/ids.js';
import { isValidId } from '../../src/ledger/index.js';

/** The definition the check must agree with. */
const canonicalUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const byDefinition = (value: string): boolean =>
  canonicalUuid.test(value) && value !== '00000000-0000-0000-0000-000000000000' && value !== 'ffffffff-ffff-ffff-ffff-ffffffffffff';

describe('entry and account ids', () => {
  it('takes canonical lowercase uuids but the nil and the max', () => {
    expect(isValidId('01a249d1-fe57-7ce6-aa10-93bb56d5e2ae')).toBe(true);
    expect(isValidId('01A249D1-FE57-7CE6-AA10-93BB56D5E2AE')).toBe(false);
    expect(isValidId('01a249d1fe577ce6aa1093bb56d5e2ae')).toBe(false);
    expect(isValidId('{01a249d1-fe57-7ce6-aa10-93bb56d5e2ae}')).toBe(false);
    expect(isValidId('01a249d1-fe57-7ce6-aa10-93bb56d5e2a')).toBe(false);
    expect(isValidId('01a249d1-fe57-7ce6-aa10-93bb56d5e2aex')).toBe(false);
    expect(isValidId('01a249d1-fe57-7ce6-aa1093bb5-6d5e2ae')).toBe(false);
    expect(isValidId('00000000-0000-0000-0000-000000000000')).toBe(false);
    expect(isValidId('ffffffff-ffff-ffff-ffff-ffffffffffff')).toBe(false);
    for (const value of [undefined, null, 1, {}, ['01a249d1-fe57-7ce6-aa10-93bb56d5e2ae']]) expect(isValidId(value)).toBe(false);
  });

  it('agrees with the regular expression on uuids, near-uuids and any text', () => {
    // One character of a uuid swapped for any other: every position, every kind of character.
    const nearUuid = fc
      .tuple(fc.uuid(), fc.nat({ max: 35 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), fc.boolean())
      .map(([uuid, at, char, upper]) => {
        const base = upper ? uuid.toUpperCase() : uuid;
        return base.slice(0, at) + char + base.slice(at + 1);
      });
    fc.assert(
      fc.property(fc.oneof(fc.uuid(), nearUuid, fc.string({ maxLength: 40 }), fc.constantFrom('', '-'.repeat(36))), (value) => {
        expect(isValidId(value)).toBe(byDefinition(value));
      }),
      { numRuns: 20_000 },
    );
  });
});

describe('ids Custos makes', () => {
  const version7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  it('makes UUIDv7s that carry the time, are valid ids and never repeat', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), (ms) => {
        const id = newId(ms);
        expect(id).toMatch(version7);
        expect(isValidId(id)).toBe(true);
        expect(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(ms);
        expect(seen.has(id)).toBe(false);
        seen.add(id);
      }),
      { numRuns: 20_000 },
    );
  });

  it('derives the same UUIDv8 from the same name, and another from another', () => {
    expect(derivedId('settlement 2026-11-25')).toBe(derivedId('settlement 2026-11-25'));
    expect(derivedId('settlement 2026-11-25')).not.toBe(derivedId('settlement 2026-11-26'));
    expect(derivedId('x')).toBe('2d711642-b726-8044-8162-7ca9fbac32f5');
    expect(derivedId('x')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

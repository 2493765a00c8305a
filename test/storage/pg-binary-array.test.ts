import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binaryArrays } from '../../src/storage/pg-binary-array.js';
import { databaseUrl } from '../support/adapters.js';

/** Each element as PostgreSQL reads it back as text, in order; null stays null. */
async function readBack(client: pg.Client, type: string, parameter: unknown): Promise<(string | null)[]> {
  const { rows } = await client.query<{ v: string | null }>(
    `select u::text as v from unnest($1::${type}[]) with ordinality as t(u, n) order by n`,
    [parameter],
  );
  return rows.map((row) => row.v);
}

const asText = (values: readonly (bigint | number | string | null)[]): (string | null)[] =>
  values.map((value) => (value === null ? null : String(value)));

// The binary format is only ever sent to a PostgreSQL server: the server is the judge.
describe.skipIf(databaseUrl === undefined)('binary array parameters, read by PostgreSQL', () => {
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
  });
  afterAll(async () => {
    await client.end();
  });

  it('sends int8 exactly across the whole range, with nulls, as bigint or number', async () => {
    const edges = [0n, 1n, -1n, 2n ** 32n, -(2n ** 32n), 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n - 1n, -(2n ** 63n)];
    expect(await readBack(client, 'int8', binaryArrays.int8([...edges, null, 7]))).toEqual(asText([...edges, null, 7]));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.option(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }))), async (values) => {
        expect(await readBack(client, 'int8', binaryArrays.int8(values))).toEqual(asText(values));
      }),
      { numRuns: 50 },
    );
  });

  it('sends int2, uuids and free text of any script exactly', async () => {
    expect(await readBack(client, 'int2', binaryArrays.int2([0, 1, 63, -32768, 32767]))).toEqual(['0', '1', '63', '-32768', '32767']);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.option(fc.uuid())), async (ids) => {
        expect(await readBack(client, 'uuid', binaryArrays.uuid(ids))).toEqual(ids);
      }),
      { numRuns: 50 },
    );
    // Any text PostgreSQL can hold: every character but NUL.
    const text = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !s.includes('\0'));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.option(text)), async (values) => {
        expect(await readBack(client, 'text', binaryArrays.text(values))).toEqual(values);
      }),
      { numRuns: 50 },
    );
    // Values repeated many times over, as a batch's kinds and commands are: each is encoded once.
    const pool = fc.constantFrom('posted', 'bench.transfer', '见证宝 · 托管', '', null);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(pool, fc.option(text)), { maxLength: 300 }), async (values) => {
        expect(await readBack(client, 'text', binaryArrays.text(values))).toEqual(values);
      }),
      { numRuns: 30 },
    );
    expect(await readBack(client, 'text', binaryArrays.text(['a"b\\c', '{x,y}', 'NULL', '', '见证宝']))).toEqual([
      'a"b\\c',
      '{x,y}',
      'NULL',
      '',
      '见证宝',
    ]);
  });

  it('sends an empty array of each type', async () => {
    for (const [type, parameter] of [
      ['int8', binaryArrays.int8([])],
      ['int2', binaryArrays.int2([])],
      ['uuid', binaryArrays.uuid([])],
      ['text', binaryArrays.text([])],
    ] as const) {
      const { rows } = await client.query<{ n: number }>(`select cardinality($1::${type}[]) as n`, [parameter]);
      expect(rows[0]?.n, type).toBe(0);
    }
  });

  it('refuses what is not a canonical uuid before anything is sent', () => {
    expect(() => binaryArrays.uuid(['not-a-uuid'])).toThrow();
    expect(() => binaryArrays.uuid(['0000000g-0000-0000-0000-000000000000'])).toThrow('hexadecimal');
  });
});

describe('binary array parameters, before anything is sent', () => {
  it('refuses an int8 out of range instead of wrapping it', () => {
    expect(() => binaryArrays.int8([2n ** 63n])).toThrow(RangeError);
    expect(() => binaryArrays.int8([-(2n ** 63n) - 1n])).toThrow(RangeError);
    expect(() => binaryArrays.int8([1.5])).toThrow(RangeError);
    expect((binaryArrays.int8([2n ** 63n - 1n, -(2n ** 63n)]) as Buffer).subarray(20)).toEqual(
      Buffer.from('000000087fffffffffffffff000000088000000000000000', 'hex'),
    );
  });
});

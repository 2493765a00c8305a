import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PgliteThread } from '../../src/storage/pglite-thread.js';

describe('PGlite on its own thread', () => {
  let pglite: PgliteThread;
  let withTable: Blob;

  beforeAll(async () => {
    const first = await PgliteThread.start(undefined);
    await first.exec('create table t (id int8 primary key, note text not null)');
    withTable = await first.dump();
    await first.close();
  });

  beforeEach(async () => {
    pglite = await PgliteThread.start(undefined, withTable);
  });

  afterEach(async () => {
    await pglite.close();
  });

  const count = async (): Promise<bigint> => (await pglite.query<{ n: bigint }>('select count(*) as n from t')).rows[0]!.n;

  it('carries money as bigint, dates as text, instants as Date and bytes as bytes, both ways', async () => {
    const { rows } = await pglite.query<{ big: bigint; day: string; at: Date; bytes: Uint8Array; echo: bigint }>(
      `select 9007199254740993::int8 as big, date '2024-03-05' as day, timestamptz '2024-03-05T01:02:03Z' as at,
              decode('00ff10', 'hex') as bytes, $1::int8 + 1 as echo`,
      [9007199254740993n],
    );
    expect(rows).toEqual([
      { big: 9007199254740993n, day: '2024-03-05', at: new Date('2024-03-05T01:02:03Z'), bytes: new Uint8Array([0, 255, 16]), echo: 9007199254740994n },
    ]);
  });

  it("keeps PostgreSQL's error fields across the thread", async () => {
    await pglite.query('insert into t values (1, $1)', ['first']);
    const failure = await pglite.query('insert into t values (1, $1)', ['again']).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect(failure).toMatchObject({ code: '23505', constraint: 't_pkey', table: 't' });
    expect(await count()).toBe(1n);
  });

  it('holds a query from outside until the transaction before it commits, then shows its rows', async () => {
    let outside: Promise<bigint> | undefined;
    await pglite.transaction(async (tx) => {
      await tx.query('insert into t values (1, $1)', ['inside']);
      outside = count();
      // Give the outside query every chance to overtake: it must not.
      await new Promise((resolve) => setTimeout(resolve, 50));
      await tx.query('insert into t values (2, $1)', ['inside']);
    });
    expect(await outside).toBe(2n);
  });

  it('undoes a transaction whose work throws, and passes the error on', async () => {
    const failure = await pglite
      .transaction(async (tx) => {
        await tx.query('insert into t values (1, $1)', ['doomed']);
        throw new Error('the caller changed its mind');
      })
      .catch((error: unknown) => error);
    expect(failure).toEqual(new Error('the caller changed its mind'));
    expect(await count()).toBe(0n);
  });

  it('refuses to commit a transaction in which a statement failed, and writes none of it', async () => {
    const failure = await pglite
      .transaction(async (tx) => {
        await tx.query('insert into t values (1, $1)', ['kept?']);
        await tx.query('insert into t values (1, $1)', ['clash']).catch(() => undefined);
      })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect(await count()).toBe(0n);
  });

  it('begins a transaction with its first statement, ends it once, and refuses statements after', async () => {
    expect(await pglite.transaction(async () => 'no statement')).toBe('no statement');
    let kept: Parameters<Parameters<PgliteThread['transaction']>[0]>[0] | undefined;
    await pglite.transaction(async (tx) => {
      kept = tx;
      await tx.query('insert into t values (1, $1)', ['rolled back']);
      await tx.rollback();
    });
    expect(await count()).toBe(0n);
    await expect(kept!.query('select 1')).rejects.toThrow(/is over/);
    await pglite.transaction(async (tx) => {
      await tx.query('insert into t values (2, $1)', ['committed']);
    });
    expect(await count()).toBe(1n);
  });

  it('starts another database from a dump of this one: same rows, then each its own', async () => {
    await pglite.query('insert into t values (1, $1)', ['before the dump']);
    const copy = await PgliteThread.start(undefined, await pglite.dump());
    try {
      await copy.query('insert into t values (2, $1)', ['only in the copy']);
      await pglite.query('insert into t values (3, $1)', ['only in the original']);
      expect((await copy.query<{ id: bigint }>('select id from t order by id')).rows).toEqual([{ id: 1n }, { id: 2n }]);
      expect((await pglite.query<{ id: bigint }>('select id from t order by id')).rows).toEqual([{ id: 1n }, { id: 3n }]);
    } finally {
      await copy.close();
    }
  });

  it('answers every call after close with an error', async () => {
    await pglite.close();
    await expect(count()).rejects.toThrow(/closed/);
  });
});

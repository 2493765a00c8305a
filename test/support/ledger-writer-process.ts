/**
 * A second Custos process for the concurrency tests: opens its own store (its own pool) on
 * the schema named in the arguments and submits transfers among the given accounts as fast
 * as it can, `concurrency` at a time. Prints one JSON line of counts.
 */
import { newId } from '../../src/ids.js';
import type { Id } from '../../src/ledger/index.js';
import { openStore } from '../../src/storage/open-store.js';
import { Random } from '../../src/bench/workload.js';

const [databaseUrl, schema, platformId, accountList, countText, seedText, concurrencyText] = process.argv.slice(2);
if (!databaseUrl || !schema || !platformId || !accountList || !countText || !seedText || !concurrencyText) {
  throw new Error('usage: ledger-writer-process URL SCHEMA PLATFORM A,B,C COUNT SEED CONCURRENCY');
}
const book: Id = platformId;
const accounts = accountList.split(',') as Id[];
const random = new Random(Number(seedText));
const store = await openStore({ adapter: 'postgres', databaseUrl, schema, batchEntriesMax: 64 });
const counts: Record<string, number> = {};
const ids: string[] = [];
let issued = 0;
const count = Number(countText);
async function caller(): Promise<void> {
  while (issued < count) {
    issued++;
    const debit = random.pick(accounts);
    let credit = random.pick(accounts);
    while (credit === debit) credit = random.pick(accounts);
    const id = newId();
    const result = await store.submit(book, {
      id,
      kind: 'posted',
      command: 'test.concurrent',
      postings: [{ debitAccountId: debit, creditAccountId: credit, amountMinor: BigInt(1 + random.int(5)) }],
    });
    counts[result.code] = (counts[result.code] ?? 0) + 1;
    if (result.code === 'ok') ids.push(id);
  }
}
let error: string | null = null;
try {
  await Promise.all(Array.from({ length: Number(concurrencyText) }, caller));
} catch (e) {
  error = e instanceof Error ? e.message : String(e);
}
await store.close();
process.stdout.write(`${JSON.stringify({ counts, ok: ids.length, error, redecided: store.stats.batchesRedecided })}\n`);

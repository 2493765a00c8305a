import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelStatementHeader } from '../../src/channels/acquiring/acquiring-simulator.js';
import { reconciliationLimits } from '../../src/custody/reconciliation-service.js';
import type { ImportProgress } from '../../src/custody/reconciliation-service.js';
import { textLines } from '../../src/custody/statement-csv.js';
import { fromPublicId } from '../../src/public-ids.js';
import { ADAPTERS } from '../support/adapters.js';
import { signPlatform } from '../support/http-fixtures.js';
import type { TestApp } from '../support/test-app.js';
import type { ReconciliationService } from '../../src/custody/reconciliation-service.js';
import { monday, openReconApp } from './support.js';

/**
 * A large channel statement streamed through the service in bounded memory: 50,000 lines in
 * the normal suite, 1,000,000 with RECON_BIG=1. The heap is measured after a full collection
 * at every tenth chunk; without a collector to call, the lines the import held at once are
 * what is checked (a behaviour, not a timing).
 */
const lineCount = process.env.RECON_BIG === '1' ? 1_000_000 : 50_000;
/** How much the live heap may grow while the file streams, whatever its size. */
const heapGrowthBytesMax = 8 * 1024 * 1024;
/** Text handed to the splitter at once, as a socket would. */
const chunkBytes = 64 * 1024;

/** A full collection, where V8 lets us ask for one. */
function collector(): (() => void) | null {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return null;
  }
}

/** Line i of the file: most agree with our payin `big_i`; some differ, some are not ours. */
function fileLine(i: number): string {
  let amount = 100 + (i % 97);
  let status = i % 10 === 3 ? 'failed' : 'succeeded';
  if (i % 1000 === 5) amount += 1;
  if (i % 1000 === 11) status = status === 'failed' ? 'succeeded' : 'failed';
  return `big_${i},big-${i},${amount},${status},2024-03-03T16:20:00Z`;
}

/** The file as a socket would deliver it: ~64 KiB pieces of text, made as they are read. */
async function* fileChunks(count: number): AsyncGenerator<string> {
  let piece = `${channelStatementHeader}\n`;
  for (let i = 0; i < count; i++) {
    piece += `${fileLine(i)}\n`;
    if (piece.length >= chunkBytes) {
      yield piece;
      piece = '';
    }
  }
  if (piece.length > 0) yield piece;
}

const expected = (() => {
  let long = 0;
  let amount = 0;
  let status = 0;
  for (let i = 0; i < lineCount; i++) {
    if (i % 50 === 7) long++;
    else if (i % 1000 === 5) amount++;
    else if (i % 1000 === 11) status++;
  }
  const shorts = Math.floor(lineCount / 1000);
  return { long, amount, status, shorts, matched: lineCount - long - amount - status };
})();

for (const adapter of ADAPTERS) {
  describe(`a ${lineCount.toLocaleString('en-US')}-line channel statement (${adapter})`, () => {
    let t: TestApp;
    let service: ReconciliationService;
    let platformId: string;

    beforeAll(async () => {
      ({ t, service } = await openReconApp(adapter));
      platformId = fromPublicId('platform', (await signPlatform(t)).id) ?? '';
      // Our side, written directly: one payin per line except every 50th line (long), and a
      // few payins the file never names (short), all decided early on Monday.
      const decidedFrom = new Date(Date.UTC(2024, 2, 3, 16, 20));
      await sql`
        insert into payins (platform_id, id, version, order_no, purpose, account_code, amount, currency, channel, channel_txn_id, status,
                            business_date, created_at, decided_at)
        select ${platformId}::uuid, gen_random_uuid(), 1, 'big-' || i, 'recharge', 'marketing', 100 + (i % 97), 'CNY', 'sim', 'big_' || i,
               case when i % 10 = 3 then 'failed' else 'succeeded' end, ${monday}::date, ${decidedFrom}, ${decidedFrom}::timestamptz + i * interval '1 ms'
        from generate_series(0, ${lineCount - 1}::int) as i where i % 50 <> 7`.execute(t.runtime.ledger.kysely);
      await sql`
        insert into payins (platform_id, id, version, order_no, purpose, account_code, amount, currency, channel, channel_txn_id, status,
                            business_date, created_at, decided_at)
        select ${platformId}::uuid, gen_random_uuid(), 1, 'short-' || i, 'recharge', 'marketing', 500, 'CNY', 'sim', 'short_' || i, 'succeeded',
               ${monday}::date, ${decidedFrom}, ${decidedFrom}
        from generate_series(1, ${expected.shorts}::int) as i`.execute(t.runtime.ledger.kysely);
    });
    afterAll(async () => {
      await t?.dispose();
    });

    it('streams in bounded memory and classifies every line', async () => {
      const gc = collector();
      const heap = (): number => {
        gc?.();
        return process.memoryUsage().heapUsed;
      };
      const baseline = heap();
      let peakGrowth = 0;
      let heldMax = 0;
      let chunks = 0;
      const onProgress = (progress: ImportProgress) => {
        heldMax = Math.max(heldMax, progress.heldLines);
        chunks++;
        if (gc !== null && chunks % 10 === 0) peakGrowth = Math.max(peakGrowth, heap() - baseline);
      };
      const startedMs = performance.now();
      const lines = textLines(fileChunks(lineCount), { bytesMax: 2 * 1024 ** 3 });
      const row = await service.import(platformId, 'channel:sim', monday, lines, 'test:big', onProgress);
      const seconds = (performance.now() - startedMs) / 1000;
      peakGrowth = Math.max(peakGrowth, heap() - baseline);

      expect({
        lines: Number(row.lines),
        matched: Number(row.matched),
        long: Number(row.breaks_long),
        short: Number(row.breaks_short),
        amount: Number(row.breaks_amount_mismatch),
        status: Number(row.breaks_status_mismatch),
      }).toEqual({ lines: lineCount, matched: expected.matched, long: expected.long, short: expected.shorts, amount: expected.amount, status: expected.status });
      expect(heldMax).toBe(reconciliationLimits.chunkLinesMax);
      const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
      console.log(
        `${adapter}: ${lineCount} lines in ${seconds.toFixed(1)} s (${Math.round(lineCount / seconds)} lines/s); ` +
          (gc === null ? 'no gc: heap not measured' : `live heap grew at most ${mib(peakGrowth)} MiB (bound ${mib(heapGrowthBytesMax)} MiB)`) +
          `; at most ${heldMax} lines held`,
      );
      if (gc !== null) expect(peakGrowth).toBeLessThan(heapGrowthBytesMax);
    });
  });
}

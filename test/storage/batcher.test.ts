import { describe, expect, it } from 'vitest';
import { Batcher } from '../../src/storage/batcher.js';

const options = { batchItemsMax: 10_000, batchWeightMax: 10_000, waitMs: 0, queueItemsMax: 100_000 };

describe('group commit', () => {
  it('starts the next batch before answering the callers of the last, then answers each its own result', async () => {
    const log: string[] = [];
    let runs = 0;
    const batcher = new Batcher<number, number>(async (_key, items) => {
      runs++;
      log.push(`run ${runs} (${items.length} items)`);
      await new Promise((resolve) => setImmediate(resolve));
      return items.map((item) => item * 2);
    }, options);
    const first = Array.from({ length: 1000 }, (_, i) =>
      batcher.submit('book', i).then((result) => {
        log.push(`answer ${i}`);
        return result;
      }),
    );
    // Queued while the first batch runs: the second batch.
    await new Promise((resolve) => setImmediate(resolve));
    const second = Array.from({ length: 10 }, (_, i) => batcher.submit('book', 1000 + i));
    expect(await Promise.all(first)).toEqual(Array.from({ length: 1000 }, (_, i) => i * 2));
    expect(await Promise.all(second)).toEqual(Array.from({ length: 10 }, (_, i) => (1000 + i) * 2));
    expect(log[0]).toBe('run 1 (1000 items)');
    expect(log[1]).toBe('run 2 (10 items)');
    expect(log.slice(2)).toEqual(Array.from({ length: 1000 }, (_, i) => `answer ${i}`));
  });

  it('refuses every caller of a batch that failed, and goes on with the next', async () => {
    let runs = 0;
    const batcher = new Batcher<number, number>(async (_key, items) => {
      runs++;
      if (runs === 1) throw new Error('the database went away');
      return items;
    }, options);
    const failed = [batcher.submit('book', 1), batcher.submit('book', 2)].map((p) => p.catch((error: unknown) => error));
    expect(await Promise.all(failed)).toEqual([new Error('the database went away'), new Error('the database went away')]);
    expect(await batcher.submit('book', 3)).toBe(3);
    await batcher.drain();
  });

  it('answers a caller what its answer function makes of its output; one that throws refuses that caller alone', async () => {
    const batcher = new Batcher<number, number>(async (_key, items) => items.map((x) => x * 10), options);
    const answers = [
      batcher.submit('book', 1),
      batcher.submit('book', 2, (output) => `output ${output}`),
      batcher.submit('book', 3, (output) => {
        throw new Error(`no answer for ${output}`);
      }),
      batcher.submit('book', 4, (output) => output + 1),
    ].map((p) => p.catch((error: unknown) => error));
    expect(await Promise.all(answers)).toEqual([10, 'output 20', new Error('no answer for 30'), 41]);
    await batcher.drain();
  });
});

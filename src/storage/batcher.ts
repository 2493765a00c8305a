import { limits } from '../limits.js';

export interface BatcherOptions {
  /** Items per batch at most. */
  readonly batchItemsMax: number;
  /** Weight per batch at most (postings, for the ledger); one item may exceed it alone. */
  readonly batchWeightMax: number;
  /** How long an idle key waits for more items before it runs a batch. */
  readonly waitMs: number;
  /** Items queued per key beyond which submissions are refused. */
  readonly queueItemsMax: number;
  /**
   * Batches of one key running at once. With 2, a full batch may start (be prepared) while
   * the one before it is still committing; `run` must keep their effects in order.
   */
  readonly inFlightMax?: number;
}

/** Refused at once because the queue is full: the caller may retry later. */
export class OverloadedError extends Error {
  readonly code = 'overloaded';
  constructor(key: string) {
    super(`the write queue of ${key} is full`);
  }
}

interface Waiting<I, O> {
  readonly item: I;
  /** Takes the batch's output for this item, or what `answer` makes of it. */
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly answer: ((output: O) => unknown) | undefined;
}

interface KeyQueue<I, O> {
  readonly waiting: Waiting<I, O>[];
  /** Items waiting, by weight. */
  weight: number;
  running: number;
  scheduled: boolean;
}

export type RunBatch<I, O> = (key: string, items: I[]) => Promise<O[]>;

/**
 * Group commit. Callers submit items under a key (a book); each key runs one batch at a
 * time, and everything that arrived while a batch was running goes into the next one, so
 * the batch size grows with the load and one database commit serves many callers.
 * Different keys run side by side.
 */
export class Batcher<I, O> {
  private readonly queues = new Map<string, KeyQueue<I, O>>();
  private readonly idleWaiters: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly run: RunBatch<I, O>,
    private readonly options: BatcherOptions,
    private readonly weight: (item: I) => number = () => 1,
  ) {
    if (options.waitMs < 0 || options.waitMs > limits.batchWaitMsMax) throw new Error('batch wait out of range');
    if (options.batchItemsMax < 1) throw new Error('batch size must be at least 1');
  }

  submit(key: string, item: I): Promise<O>;
  /**
   * The caller is answered `answer(output)`: computed as its batch answers, instead of by a
   * `then` of the caller's, which would add a promise and a job per item.
   */
  submit<R>(key: string, item: I, answer: (output: O) => R): Promise<R>;
  submit(key: string, item: I, answer?: (output: O) => unknown): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('the batcher is closed'));
    const queue = this.queue(key);
    if (queue.waiting.length >= this.options.queueItemsMax) return Promise.reject(new OverloadedError(key));
    return new Promise((resolve, reject) => {
      queue.waiting.push({ item, resolve, reject, answer });
      queue.weight += this.weight(item);
      this.schedule(key, queue);
    });
  }

  /** Resolves when every queue is empty and no batch is running. */
  async drain(): Promise<void> {
    if (this.isIdle()) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Refuses new items and waits for the queued ones to be written. */
  async close(): Promise<void> {
    this.closed = true;
    await this.drain();
  }

  private queue(key: string): KeyQueue<I, O> {
    let queue = this.queues.get(key);
    if (queue === undefined) {
      queue = { waiting: [], weight: 0, running: 0, scheduled: false };
      this.queues.set(key, queue);
    }
    return queue;
  }

  private schedule(key: string, queue: KeyQueue<I, O>): void {
    if (queue.scheduled) return;
    if (queue.running > 0) {
      // A batch is committing: start another only when a full one is waiting.
      if (queue.running < (this.options.inFlightMax ?? 1) && this.full(queue)) this.start(key, queue);
      return;
    }
    queue.scheduled = true;
    const begin = (): void => {
      queue.scheduled = false;
      this.start(key, queue);
    };
    if (this.options.waitMs === 0) setImmediate(begin);
    else setTimeout(begin, this.options.waitMs);
  }

  private full(queue: KeyQueue<I, O>): boolean {
    return queue.waiting.length >= this.options.batchItemsMax || queue.weight >= this.options.batchWeightMax;
  }

  private start(key: string, queue: KeyQueue<I, O>): void {
    const batch = this.take(queue);
    if (batch.length === 0) return this.settle(key, queue);
    queue.running++;
    void this.run(key, batch.map((w) => w.item)).then(
      (results) => this.finish(key, queue, () => answerInSlices(batch, results, 0)),
      (error: unknown) => this.finish(key, queue, () => batch.forEach((w) => w.reject(error))),
    );
    if (queue.waiting.length > 0) this.schedule(key, queue);
  }

  /** A batch is done: the next one is scheduled before its callers hear of it. */
  private finish(key: string, queue: KeyQueue<I, O>, answer: () => void): void {
    queue.running--;
    if (queue.waiting.length > 0) this.schedule(key, queue);
    else this.settle(key, queue);
    answer();
  }

  private take(queue: KeyQueue<I, O>): Waiting<I, O>[] {
    let count = 0;
    let weight = 0;
    for (const w of queue.waiting) {
      const next = this.weight(w.item);
      if (count > 0 && (count >= this.options.batchItemsMax || weight + next > this.options.batchWeightMax)) break;
      count++;
      weight += next;
    }
    queue.weight -= weight;
    return queue.waiting.splice(0, count);
  }

  private settle(key: string, queue: KeyQueue<I, O>): void {
    if (queue.running === 0 && queue.waiting.length === 0 && !queue.scheduled) this.queues.delete(key);
    if (this.isIdle()) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private isIdle(): boolean {
    for (const queue of this.queues.values()) {
      if (queue.running > 0 || queue.scheduled || queue.waiting.length > 0) return false;
    }
    return true;
  }
}

/** One caller's answer; an `answer` that throws rejects that caller alone. */
function answerOne<I, O>(waiting: Waiting<I, O>, output: O): void {
  if (waiting.answer === undefined) return waiting.resolve(output);
  let value: unknown;
  try {
    value = waiting.answer(output);
  } catch (error) {
    return waiting.reject(error);
  }
  waiting.resolve(value);
}

/** Callers answered in one turn of the event loop. */
const answerSliceCallers = 256;

/**
 * Answers a batch's callers a slice per turn of the event loop, starting on the next turn.
 * Each caller goes on with its result at once (a bench caller submits its next transfer), so
 * answering thousands in one turn would keep the next batch's transaction from starting,
 * and its database replies from being read, while the database waits.
 */
function answerInSlices<I, O>(batch: readonly Waiting<I, O>[], results: readonly O[], from: number): void {
  setImmediate(() => {
    const end = Math.min(batch.length, from + answerSliceCallers);
    for (let i = from; i < end; i++) answerOne(batch[i] as Waiting<I, O>, results[i] as O);
    if (end < batch.length) answerInSlices(batch, results, end);
  });
}

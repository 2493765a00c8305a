import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { PGlite as KyselyPglite, PGliteQueryOptions, PGliteQueryResults, PGliteTransaction } from 'kysely';

/** What a query returns across the thread boundary. */
type Results = PGliteQueryResults<unknown>;

interface Reply {
  readonly id: number;
  readonly value?: unknown;
  readonly error?: Record<string, unknown>;
}

/**
 * PGlite on its own worker thread, behind the subset of PGlite's API that Kysely and the
 * migrator use. PostgreSQL compiled to WebAssembly is single-threaded and, in this process,
 * would share the event loop with everything else: on its own thread it executes one batch
 * while the main thread decides the next (ADR 0002), as a PostgreSQL server does.
 *
 * Transactions keep PGlite's meaning: exclusive, so a query from outside waits for them.
 */
export class PgliteThread implements KyselyPglite {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private nextId = 1;
  private nextTransaction = 1;
  private failure: Error | undefined;
  closed = false;
  ready = false;
  readonly waitReady: Promise<void>;

  /**
   * Starts PGlite on a new thread, in `dataDir` or, without one, in memory; from the data
   * directory `load` holds (a `dump()`), or from an empty database.
   */
  static async start(dataDir: string | undefined, load?: Blob): Promise<PgliteThread> {
    const workerData = { dataDir, loadDataDir: load, ...(await pgliteAssets()) };
    const thread = new PgliteThread(new Worker(workerUrl, { workerData }));
    await thread.waitReady;
    return thread;
  }

  private constructor(worker: Worker) {
    this.worker = worker;
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => this.settle(reply));
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => this.fail(new Error(`the PGlite thread exited (code ${code})`)));
    this.waitReady = this.call({ op: 'query', sql: 'select 1' }).then(() => {
      this.ready = true;
    });
  }

  async query<T>(sql: string, params?: unknown[], options?: PGliteQueryOptions): Promise<PGliteQueryResults<T>> {
    return (await this.call({ op: 'query', sql, params, options: sendable(options) })) as PGliteQueryResults<T>;
  }

  async exec(sql: string): Promise<Results[]> {
    return (await this.call({ op: 'exec', sql })) as Results[];
  }

  /**
   * A transaction begins with its first statement, in the same message: one crossing fewer
   * per transaction, while the database thread would otherwise wait for this one to answer.
   * One that runs no statement never reaches the database.
   */
  async transaction<T>(work: (tx: PGliteTransaction & { exec(sql: string): Promise<Results[]> }) => Promise<T>): Promise<T> {
    const tx = this.nextTransaction++;
    let begun = false;
    let open = true;
    const inside = (op: 'query' | 'exec', fields: Record<string, unknown>): Promise<unknown> => {
      if (!open) return Promise.reject(new Error(`transaction ${tx} is over`));
      const begin = !begun;
      begun = true;
      return this.call({ op, tx, begin, ...fields });
    };
    const end = async (commit: boolean): Promise<void> => {
      if (!open) return;
      open = false;
      if (begun) await this.call({ op: commit ? 'commit' : 'rollback', tx });
    };
    let result: T;
    try {
      result = await work({
        query: async <R>(sql: string, params?: unknown[], options?: PGliteQueryOptions) =>
          (await inside('query', { sql, params, options: sendable(options) })) as PGliteQueryResults<R>,
        exec: async (sql: string) => (await inside('exec', { sql })) as Results[],
        rollback: () => end(false),
      });
    } catch (error) {
      await end(false).catch(() => {});
      throw error;
    }
    await end(true);
    return result;
  }

  /** The whole data directory, as a tarball to `start` another database from. */
  async dump(): Promise<Blob> {
    return (await this.call({ op: 'dump' })) as Blob;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.call({ op: 'close' });
    } finally {
      await this.worker.terminate();
    }
  }

  private call(message: Record<string, unknown>): Promise<unknown> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed && message.op !== 'close') return Promise.reject(new Error('PGlite is closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      // Like PGlite in the main thread, an idle database does not keep the process alive.
      if (this.waiting.size === 1) this.worker.ref();
      this.worker.postMessage({ ...message, id });
    });
  }

  private settle(reply: Reply): void {
    const waiter = this.waiting.get(reply.id);
    if (waiter === undefined) return;
    this.waiting.delete(reply.id);
    if (this.waiting.size === 0) this.worker.unref();
    if (reply.error === undefined) waiter.resolve(reply.value);
    else waiter.reject(Object.assign(new Error(String(reply.error.message)), reply.error));
  }

  private fail(error: Error): void {
    if (this.failure !== undefined) return;
    this.failure = this.closed ? new Error('PGlite is closed') : error;
    for (const waiter of this.waiting.values()) waiter.reject(this.failure);
    this.waiting.clear();
  }
}

const workerUrl = new URL('./pglite-thread-worker.mjs', import.meta.url);

/** A compiled WebAssembly module: opaque here, handed to the worker as it is. */
type WasmModule = object;

interface PgliteAssets {
  readonly pgliteWasmModule: WasmModule;
  readonly initdbWasmModule: WasmModule;
  readonly fsBundle: Blob;
}

let assets: Promise<PgliteAssets> | undefined;

/** The runtime's WebAssembly compiler (its value is not in the ES library types this project uses). */
const compileWasm = (bytes: Uint8Array): Promise<WasmModule> =>
  (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<WasmModule> } }).WebAssembly.compile(bytes);

/** PGlite's WebAssembly and file bundle, read and compiled once per process and handed to every thread. */
function pgliteAssets(): Promise<PgliteAssets> {
  assets ??= (async () => {
    const dist = new URL('.', pathToFileURL(createRequire(import.meta.url).resolve('@electric-sql/pglite')));
    const read = (name: string) => readFile(new URL(name, dist));
    const [pglite, initdb, bundle] = await Promise.all([read('pglite.wasm'), read('initdb.wasm'), read('pglite.data')]);
    const [pgliteWasmModule, initdbWasmModule] = await Promise.all([compileWasm(pglite), compileWasm(initdb)]);
    return { pgliteWasmModule, initdbWasmModule, fsBundle: new Blob([bundle]) };
  })();
  return assets;
}

/** Options without functions (parsers and serializers are the thread's own). */
function sendable(options: PGliteQueryOptions | undefined): PGliteQueryOptions | undefined {
  if (options === undefined) return undefined;
  const { rowMode, paramTypes } = options;
  return { rowMode, paramTypes };
}

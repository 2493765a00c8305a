// @ts-check
// The embedded database's own thread: PGlite runs here, so the main thread decides the next
// batch while this one executes the last. Messages: see pglite-thread.ts.
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';

const int8Oid = 20;
const dateOid = 1082;

if (parentPort === null) throw new Error('pglite-thread-worker runs as a worker thread');
const port = parentPort;

const ready = PGlite.create(workerData.dataDir, {
  // Compiled once by the main thread (pglite-thread.ts).
  pgliteWasmModule: workerData.pgliteWasmModule,
  initdbWasmModule: workerData.initdbWasmModule,
  fsBundle: workerData.fsBundle,
  // A database to start from instead of an empty one (a tarball of a data directory).
  loadDataDir: workerData.loadDataDir,
  // Exact money as bigint; business dates as their text, never shifted by a time zone.
  parsers: { [int8Oid]: (/** @type {string} */ value) => BigInt(value), [dateOid]: (/** @type {string} */ value) => value },
});

/** @type {Map<number, { tx: import('@electric-sql/pglite').Transaction, finish: (commit: boolean) => void, done: Promise<unknown> }>} */
const transactions = new Map();

class RollBack extends Error {}

/** @param {any} message */
async function handle(message) {
  const pglite = await ready;
  // A transaction begins with its first statement (pglite-thread.ts).
  if (message.begin === true) await begin(pglite, message.tx);
  const target = message.tx === undefined ? pglite : transactionOf(message.tx).tx;
  switch (message.op) {
    case 'query': {
      const result = await target.query(message.sql, message.params, message.options);
      return { rows: result.rows, affectedRows: result.affectedRows, fields: result.fields };
    }
    case 'exec': {
      const results = await target.exec(message.sql);
      return results.map((result) => ({ rows: result.rows, affectedRows: result.affectedRows, fields: result.fields }));
    }
    case 'commit': {
      const transaction = transactionOf(message.tx);
      transaction.finish(true);
      try {
        await transaction.done;
      } finally {
        transactions.delete(message.tx);
      }
      return null;
    }
    case 'rollback': {
      const transaction = transactionOf(message.tx);
      transaction.finish(false);
      transactions.delete(message.tx);
      await transaction.done.catch(() => {});
      return null;
    }
    case 'dump':
      return pglite.dumpDataDir('none');
    case 'close':
      await pglite.close();
      return null;
    default:
      throw new Error(`unknown operation ${message.op}`);
  }
}

/** @param {number} id */
function transactionOf(id) {
  const transaction = transactions.get(id);
  if (transaction === undefined) throw new Error(`transaction ${id} is not open`);
  return transaction;
}

/**
 * Opens a PGlite transaction that stays open until commit or rollback arrives for it.
 * @param {PGlite} pglite
 * @param {number} id
 */
function begin(pglite, id) {
  return new Promise((begun, failed) => {
    const done = pglite.transaction(async (tx) => {
      /** @type {(commit: boolean) => void} */
      let finish = () => {};
      const decided = new Promise((resolve) => (finish = resolve));
      transactions.set(id, { tx, finish, done });
      begun(id);
      if (!(await decided)) throw new RollBack('rolled back by its caller');
    });
    done.catch(failed);
  });
}

/** An error as plain data: PostgreSQL's fields (code, detail, constraint …) survive the crossing. */
function plain(/** @type {unknown} */ error) {
  if (!(error instanceof Error)) return { message: String(error) };
  /** @type {Record<string, unknown>} */
  const fields = { name: error.name, message: error.message, stack: error.stack };
  for (const [key, value] of Object.entries(error)) {
    if (value === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof value)) fields[key] = value;
  }
  return fields;
}

port.on('message', (/** @type {any} */ message) => {
  handle(message).then(
    (value) => port.postMessage({ id: message.id, value }),
    (error) => port.postMessage({ id: message.id, error: plain(error) }),
  );
});

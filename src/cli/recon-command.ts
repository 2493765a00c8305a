import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { ProgressBar } from './progress.js';

/**
 * `custos recon`: reconciliation from the command line, against a running server.
 *
 *   CUSTOS_URL=http://127.0.0.1:8080 CUSTOS_TOKEN=cot_… \
 *     custos recon import statement.csv --platform plt_… --source channel:sim --date 2024-03-04
 *   custos recon show rec_… [--all]
 *
 * `import` streams the file as a `text/csv` body (never read whole) with a progress bar of
 * bytes and lines sent, then prints the result; `show` prints a reconciliation and its breaks.
 */

const usage = `custos recon import FILE --platform plt_… --source bank|channel:<name> --date YYYY-MM-DD [--idempotency-key KEY] [--json]
custos recon show rec_… [--all] [--json]

  CUSTOS_URL     the server (http://127.0.0.1:8080)
  CUSTOS_TOKEN   an operator token (operator role to import, viewer to show)`;

/** Bytes read from the file at a time. */
const readChunkBytes = 256 * 1024;
/** Breaks printed by `show` without --all (the server shows this many with a reconciliation). */
const breaksPrintedMax = 100;

interface Break {
  kind: string;
  channel_txn_id?: string;
  bank_txn_id?: string;
  order_no?: string;
  expected_amount?: number;
  actual_amount?: number;
  expected_status?: string;
  actual_status?: string;
  resolution: string | null;
  detail: string | null;
}

interface Reconciliation {
  id: string;
  source: string;
  date: string;
  status: string;
  lines: number;
  matched: number;
  breaks_count: number;
  breaks_by_kind: Record<string, number>;
  breaks: Break[];
  has_more_breaks: boolean;
  detail: string | null;
}

function baseUrl(): string {
  return (process.env.CUSTOS_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
}

function authorization(): Record<string, string> {
  const token = process.env.CUSTOS_TOKEN;
  return token ? { authorization: `Bearer ${token}` } : {};
}

export async function reconCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'import') return importCommand(rest);
  if (sub === 'show') return showCommand(rest);
  console.log(usage);
  return sub === '--help' || sub === 'help' ? 0 : 2;
}

async function importCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      platform: { type: 'string' },
      source: { type: 'string' },
      date: { type: 'string' },
      'idempotency-key': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const [file] = positionals;
  if (file === undefined || positionals.length > 1 || values.platform === undefined || values.source === undefined || values.date === undefined) {
    console.error(usage);
    return 2;
  }
  const size = (await stat(file)).size;
  const url = new URL(`${baseUrl()}/v1/ops/reconciliations`);
  url.search = new URLSearchParams({ platform_id: values.platform, source: values.source, date: values.date }).toString();
  const bar = new ProgressBar(`import ${values.source} ${values.date}`, size);
  let sent = 0;
  let lines = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      sent += chunk.byteLength;
      for (let at = chunk.indexOf(0x0a); at >= 0; at = chunk.indexOf(0x0a, at + 1)) lines++;
      bar.update(sent, `bytes · ${lines.toLocaleString('en-US')} lines`);
      done(null, chunk);
    },
  });
  const response = await send(
    url,
    {
      ...authorization(),
      'content-type': 'text/csv; charset=utf-8',
      'content-length': String(size),
      ...(values['idempotency-key'] === undefined ? {} : { 'idempotency-key': values['idempotency-key'] }),
    },
    (body) => pipeline(createReadStream(file, { highWaterMark: readChunkBytes }), counter, body),
  );
  bar.finish(`bytes · ${lines.toLocaleString('en-US')} lines sent`);
  return report(response, values.json === true, (body) => printSummary(body as Reconciliation));
}

async function showCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { all: { type: 'boolean' }, json: { type: 'boolean' } } });
  const [id] = positionals;
  if (id === undefined || positionals.length > 1) {
    console.error(usage);
    return 2;
  }
  const response = await fetch(`${baseUrl()}/v1/ops/reconciliations/${encodeURIComponent(id)}`, { headers: authorization() });
  const answer = { status: response.status, text: await response.text() };
  if (answer.status !== 200 || values.all !== true) return report(answer, values.json === true, (body) => printSummary(body as Reconciliation));
  const reconciliation = JSON.parse(answer.text) as Reconciliation;
  const breaks: Break[] = [];
  for (let after: string | undefined; ; ) {
    const page = await fetch(
      `${baseUrl()}/v1/ops/reconciliations/${encodeURIComponent(id)}/breaks?limit=100${after === undefined ? '' : `&starting_after=${after}`}`,
      { headers: authorization() },
    );
    if (!page.ok) return report({ status: page.status, text: await page.text() }, values.json === true, () => undefined);
    const body = (await page.json()) as { data: (Break & { id: string })[]; has_more: boolean };
    breaks.push(...body.data);
    if (!body.has_more) break;
    after = body.data.at(-1)?.id;
  }
  const whole = { ...reconciliation, breaks, has_more_breaks: false };
  if (values.json === true) console.log(JSON.stringify(whole, null, 2));
  else printSummary(whole, Number.MAX_SAFE_INTEGER);
  return 0;
}

/**
 * POSTs a body written by `write`, and resolves with the answer. A server that refuses the
 * file early (a bad line) answers before the upload ends and closes the connection: the
 * answer wins over the broken upload.
 */
async function send(
  url: URL,
  headers: Record<string, string>,
  write: (body: NodeJS.WritableStream) => Promise<void>,
): Promise<{ status: number; text: string }> {
  const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { method: 'POST', headers });
  const answered = new Promise<IncomingMessage>((resolve, reject) => {
    request.once('response', resolve);
    request.once('error', reject);
  });
  // Once answered, a write into the closed connection is expected: it must not crash the CLI.
  request.on('error', () => undefined);
  const uploaded = write(request).then(
    () => null,
    (error: unknown) => error,
  );
  const response = await answered.catch(async (error: unknown) => {
    throw (await uploaded) ?? error;
  });
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  // Answered before the upload ended (a refusal): stop sending and drop the connection, so
  // that neither side waits on a body nobody will read.
  if (!request.writableFinished) request.destroy();
  return { status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') };
}

function report(answer: { status: number; text: string }, json: boolean, print: (body: unknown) => void): number {
  const ok = answer.status >= 200 && answer.status < 300;
  let body: unknown = answer.text;
  try {
    body = JSON.parse(answer.text);
  } catch {
    // Not JSON: shown as it came.
  }
  if (!ok) {
    console.error(typeof body === 'string' ? body : JSON.stringify(body, null, 2));
    return 1;
  }
  if (json) console.log(JSON.stringify(body, null, 2));
  else print(body);
  return 0;
}

function printSummary(r: Reconciliation, breaksMax = breaksPrintedMax): void {
  const kinds = Object.entries(r.breaks_by_kind)
    .map(([kind, count]) => `${kind} ${count}`)
    .join(', ');
  console.log(`${r.id}  ${r.source}  ${r.date}  ${r.status}`);
  console.log(`  ${r.lines.toLocaleString('en-US')} lines, ${r.matched.toLocaleString('en-US')} matched, ${r.breaks_count.toLocaleString('en-US')} breaks (${kinds})`);
  if (r.detail !== null) console.log(`  ${r.detail}`);
  if (r.breaks.length === 0) return;
  const rows = r.breaks.slice(0, breaksMax).map((b) => [
    b.kind,
    b.channel_txn_id ?? b.bank_txn_id ?? '',
    b.order_no ?? '',
    b.expected_amount === undefined ? '' : String(b.expected_amount),
    b.actual_amount === undefined ? '' : String(b.actual_amount),
    b.expected_status === undefined && b.actual_status === undefined ? '' : `${b.expected_status ?? '-'}/${b.actual_status ?? '-'}`,
    b.resolution ?? 'open',
  ]);
  const header = ['kind', 'txn id', 'order no', 'ours (fen)', 'theirs (fen)', 'status ours/theirs', 'resolution'];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  for (const row of [header, ...rows]) console.log(`  ${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()}`);
  if (r.has_more_breaks || r.breaks.length > breaksMax) console.log(`  … more breaks: custos recon show ${r.id} --all`);
}

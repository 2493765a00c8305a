import { describe, expect, it } from 'vitest';
import {
  bankLine,
  bankStatementColumns,
  channelLine,
  channelStatementColumns,
  CsvRecordReader,
  statementCsvLimits,
  statementLines,
  textLines,
} from '../../src/custody/statement-csv.js';
import { CustodyError } from '../../src/errors.js';

/** The streaming CSV reader of statement files: white-box, no database. */

async function* chunksOf(...chunks: (string | Uint8Array)[]): AsyncGenerator<string | Uint8Array> {
  for (const chunk of chunks) yield chunk;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const bytesMax = 1024 * 1024;
const lines = (...chunks: (string | Uint8Array)[]) => collect(textLines(chunksOf(...chunks), { bytesMax }));

/** Records of a text, fed line by line. */
async function records(text: string): Promise<{ lineNo: number; fields: string[] }[]> {
  const reader = new CsvRecordReader();
  const out: { lineNo: number; fields: string[] }[] = [];
  for await (const line of textLines(chunksOf(text), { bytesMax })) {
    const record = reader.push(line);
    if (record !== null) out.push(record);
  }
  reader.finish();
  return out;
}

async function refusal(work: Promise<unknown>): Promise<string> {
  const error = await work.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CustodyError);
  expect((error as CustodyError).code).toBe('invalid_request');
  expect((error as CustodyError).param).toBe('file');
  return (error as CustodyError).message;
}

describe('textLines: bytes to lines', () => {
  it('splits on LF and CRLF, with or without a trailing newline', async () => {
    expect(await lines('a,b\nc,d\n')).toEqual(['a,b', 'c,d']);
    expect(await lines('a,b\r\nc,d\r\n')).toEqual(['a,b', 'c,d']);
    expect(await lines('a,b\r\nc,d')).toEqual(['a,b', 'c,d']);
    expect(await lines('')).toEqual([]);
  });

  it('joins lines, CRLF pairs and multi-byte characters cut across chunks', async () => {
    const bytes = Buffer.from('张三,x\r\nb');
    const cuts = [1, 2, 4, 7, 8];
    const pieces = cuts.map((cut, i) => bytes.subarray(cuts[i - 1] ?? 0, cut));
    pieces.push(bytes.subarray(8));
    expect(await lines(...pieces)).toEqual(['张三,x', 'b']);
  });

  it('refuses bytes that are not UTF-8, a line too long and a body over its limit', async () => {
    expect(await refusal(lines(Buffer.from([0x61, 0x0a, 0xff, 0x0a])))).toMatch(/^line 2: the file is not valid UTF-8/);
    expect(await refusal(lines(`a\n${'x'.repeat(statementCsvLimits.recordCharsMax + 5)}\n`))).toMatch(/^line 2: longer than/);
    const error = await collect(textLines(chunksOf('a'.repeat(10), 'b'.repeat(10)), { bytesMax: 15 })).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'request_too_large' });
  });
});

describe('CsvRecordReader: lines to records', () => {
  it('reads quoted fields with commas, doubled quotes and line breaks, and empty fields', async () => {
    expect(await records('h1,h2,h3\n"a, b","say ""hi""",\n"two\nlines",,"x"\n')).toEqual([
      { lineNo: 1, fields: ['h1', 'h2', 'h3'] },
      { lineNo: 2, fields: ['a, b', 'say "hi"', ''] },
      { lineNo: 3, fields: ['two\nlines', '', 'x'] },
    ]);
  });

  it('drops a byte order mark before the header, and only there', async () => {
    expect((await records('\uFEFFa,b\r\nc,d\r\n')).map((r) => r.fields)).toEqual([['a', 'b'], ['c', 'd']]);
    expect((await records('a,b\n\uFEFFc,d\n'))[1]?.fields).toEqual(['\uFEFFc', 'd']);
  });

  it('allows blank lines at the end only', async () => {
    expect((await records('a,b\nc,d\n\n\n')).length).toBe(2);
    expect(await refusal(records('a,b\n\nc,d\n'))).toMatch(/^line 2: a blank line/);
  });

  it('refuses stray quotes and unclosed ones, naming the line the record starts on', async () => {
    expect(await refusal(records('a,b\nc"d,e\n'))).toMatch(/^line 2: a quote inside an unquoted field/);
    expect(await refusal(records('a,b\n"c"d,e\n'))).toMatch(/^line 2: text after a closing quote/);
    expect(await refusal(records('a,b\nx,y\n"c,\nd\n'))).toMatch(/^line 3: a quoted field is never closed/);
  });

  it('refuses a record longer than the limit, even across lines', async () => {
    const half = 'x'.repeat(statementCsvLimits.recordCharsMax / 2 + 1);
    expect(await refusal(records(`a\n"${half}\n${half}"\n`))).toMatch(/^line 2: a record longer than/);
  });
});

describe('typed statement lines', () => {
  const channel = (text: string) => collect(statementLines(textLines(chunksOf(text), { bytesMax }), channelStatementColumns, channelLine));
  const header = channelStatementColumns.join(',');

  it('types a channel line: bigint fen, status, instant', async () => {
    expect(await channel(`${header}\nsim_1,pay-1,10000,succeeded,2024-03-04T02:00:01.250Z\nsim_2,,1,failed,2024-03-04T10:00:00+08:00\n`)).toEqual([
      { lineNo: 2, txnId: 'sim_1', orderNo: 'pay-1', amountMinor: 10_000n, status: 'succeeded', occurredAtMs: Date.UTC(2024, 2, 4, 2, 0, 1, 250) },
      { lineNo: 3, txnId: 'sim_2', orderNo: null, amountMinor: 1n, status: 'failed', occurredAtMs: Date.UTC(2024, 2, 4, 2) },
    ]);
  });

  it('parses amounts strictly as whole fen', async () => {
    for (const amount of ['0', '012', '1.5', '1e3', ' 5', '+5', '-5', '9007199254740992', '']) {
      const message = await refusal(channel(`${header}\nsim_1,p,${amount},succeeded,2024-03-04T02:00:00Z\n`));
      expect(message, amount).toMatch(/^line 2: amount/);
    }
    expect((await channel(`${header}\nsim_1,p,9007199254740991,succeeded,2024-03-04T02:00:00Z\n`))[0]?.amountMinor).toBe(2n ** 53n - 1n);
  });

  it('types a bank line with a quoted memo holding commas and a name holding quotes', async () => {
    const text = `${bankStatementColumns.join(',')}\r\nb1,credit,500,6222,"ACME ""Rent"" Co.","rent, march",2024-03-04T03:00:00Z\r\n`;
    const [line] = await collect(statementLines(textLines(chunksOf(text), { bytesMax }), bankStatementColumns, bankLine));
    expect(line).toMatchObject({ txnId: 'b1', direction: 'credit', amountMinor: 500n, counterpartyName: 'ACME "Rent" Co.', memo: 'rent, march' });
  });

  it('refuses a wrong header, a short line and control characters', async () => {
    expect(await refusal(channel('channel_txn_id,order_no,amount,state,occurred_at\n'))).toMatch(/^line 1: the header must be/);
    expect(await refusal(channel(`${header}\nsim_1,p,1,succeeded\n`))).toMatch(/^line 2: expected 5 fields, found 4/);
    expect(await refusal(channel(`${header}\nsim\u00071,p,1,succeeded,2024-03-04T02:00:00Z\n`))).toMatch(/^line 2: channel_txn_id holds a control character/);
    expect(await refusal(channel(`${header}\n,p,1,succeeded,2024-03-04T02:00:00Z\n`))).toMatch(/^line 2: channel_txn_id is empty/);
  });
});

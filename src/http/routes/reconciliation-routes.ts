import type { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { CustodyError } from '../../errors.js';
import type { Id } from '../../ledger/index.js';
import { limits } from '../../limits.js';
import { fromPublicId, toPublicId } from '../../public-ids.js';
import type { Runtime } from '../../runtime.js';
import { isReconciliationSource, reconciliationLimits } from '../../custody/reconciliation-service.js';
import type { BreakResolution, ReconciliationService } from '../../custody/reconciliation-service.js';
import { textLines } from '../../custody/statement-csv.js';
import type { BreakRow, ReconciliationRow } from '../../storage/sql-reconciliation-store.js';
import { operatorAccess } from '../auth.js';
import * as present from '../present.js';
import { errorResponses, IdParams, List, listQueryWith, StringEnum, Timestamp } from '../schemas.js';
import { internalId } from './ops-routes.js';
import { actorOf } from './order-routes.js';

export const reconciliationHttpLimits = {
  /** A `text/csv` import streams: this route's own body limit, counted as the bytes arrive. */
  csvBodyBytesMax: 2 * 1024 ** 3,
  /** A JSON import holds the whole file in memory (`file`): kept small; larger files stream as text/csv. */
  jsonBodyBytesMax: 16 * 1024 * 1024,
  /** Breaks shown with a reconciliation; the rest are paged at `/reconciliations/{id}/breaks`. */
  breaksShownMax: limits.pageSizeMax,
} as const;

/** Breaks show as `brk_…`: the reconciliation codec (src/public-ids.ts) under a prefix of their own. */
const breakPrefix = 'brk_';

export function breakPublicId(uuid: Id): string {
  return `${breakPrefix}${toPublicId('reconciliation', uuid).slice('rec_'.length)}`;
}

export function breakInternalId(publicId: string, param = 'id'): Id {
  const id = publicId.startsWith(breakPrefix) ? fromPublicId('reconciliation', `rec_${publicId.slice(breakPrefix.length)}`) : null;
  if (id === null) throw new CustodyError('not_found', 'No such break.', param);
  return id;
}

/**
 * A `text/csv` body as the parser hands it over: the request stream, unread. Its enumerable
 * fields are what the idempotency hook hashes (the stream itself cannot be), so a retry with
 * the same key, query and length replays the first answer.
 */
export class CsvUpload {
  readonly content_type = 'text/csv';
  readonly #stream: Readable;

  constructor(
    stream: Readable,
    readonly content_length: string | null,
  ) {
    this.#stream = stream;
  }

  get stream(): Readable {
    return this.#stream;
  }
}

const kinds = ['long', 'short', 'amount_mismatch', 'status_mismatch'] as const;

const Break = Type.Object({
  id: Type.String({ description: '`brk_…`' }),
  object: Type.Literal('reconciliation_break'),
  reconciliation_id: Type.String(),
  kind: StringEnum(kinds, 'long: theirs, not ours; short: ours, not theirs; or the amount or status differs.'),
  channel_txn_id: Type.Optional(Type.String()),
  bank_txn_id: Type.Optional(Type.String()),
  order_no: Type.Optional(Type.String()),
  expected_amount: Type.Optional(Type.Integer({ description: 'Ours, in fen.' })),
  actual_amount: Type.Optional(Type.Integer({ description: 'Theirs, in fen.' })),
  expected_status: Type.Optional(Type.String({ description: "Our record's status." })),
  actual_status: Type.Optional(Type.String({ description: "The file's status: succeeded or failed (channel); paid, returned or credited (bank)." })),
  line_no: Type.Optional(Type.Integer({ description: 'The line of the file (1 is the header).' })),
  payin_id: Type.Optional(Type.String()),
  withdrawal_id: Type.Optional(Type.String()),
  bank_credit_id: Type.Optional(Type.String()),
  detail: Type.Union([Type.String(), Type.Null()]),
  resolution: Type.Union([StringEnum(['explained', 'adjusted', 'recorded'] as const), Type.Null()]),
  resolution_note: Type.Union([Type.String(), Type.Null()]),
  adjustment_id: Type.Union([Type.String(), Type.Null()]),
  resolved_by: Type.Union([Type.String(), Type.Null()]),
  resolved_at: Type.Union([Timestamp, Type.Null()]),
});

const Reconciliation = Type.Object({
  id: Type.String({ description: '`rec_…`' }),
  object: Type.Literal('reconciliation'),
  platform_id: Type.String(),
  source: Type.String(),
  date: Type.String(),
  status: StringEnum(['importing', 'completed', 'failed'] as const),
  lines: Type.Integer({ description: 'Data lines of the file (the header not counted).' }),
  matched: Type.Integer(),
  breaks_count: Type.Integer(),
  breaks_by_kind: Type.Object({ long: Type.Integer(), short: Type.Integer(), amount_mismatch: Type.Integer(), status_mismatch: Type.Integer() }),
  breaks: Type.Array(Break, { description: `The first ${reconciliationHttpLimits.breaksShownMax} breaks; the rest at /v1/ops/reconciliations/{id}/breaks.` }),
  has_more_breaks: Type.Boolean(),
  detail: Type.Union([Type.String(), Type.Null()]),
  created_by: Type.String(),
  created: Timestamp,
  completed_at: Type.Union([Timestamp, Type.Null()]),
});

const ImportJson = Type.Object(
  {
    platform_id: Type.String({ maxLength: 64 }),
    source: Type.String({ maxLength: 48, description: '`bank` or `channel:<name>`, e.g. `channel:sim`.' }),
    date: Type.String({ maxLength: 10, description: 'The business date the statement covers, YYYY-MM-DD.' }),
    file: Type.String({ description: 'The statement, CSV text with its header row.' }),
  },
  { additionalProperties: false },
);
type ImportJson = { platform_id: string; source: string; date: string; file: string };

const ImportQuery = Type.Object(
  {
    platform_id: Type.Optional(Type.String({ maxLength: 64, description: 'With a text/csv body.' })),
    source: Type.Optional(Type.String({ maxLength: 48, description: 'With a text/csv body: `bank` or `channel:<name>`.' })),
    date: Type.Optional(Type.String({ maxLength: 10, description: 'With a text/csv body: YYYY-MM-DD.' })),
  },
  { additionalProperties: false },
);

const ResolveBody = Type.Object(
  {
    action: StringEnum(['explain', 'adjust'] as const, 'explain: a note says why nothing needs correcting; adjust: names the adjustment that corrects it.'),
    note: Type.Optional(Type.String({ maxLength: reconciliationLimits.noteLengthMax })),
    adjustment_id: Type.Optional(Type.String({ maxLength: 64, description: 'With `adjust`: an adjustment (adj_…) of the same platform, not rejected.' })),
  },
  { additionalProperties: false },
);

const importDescription = `Imports a statement and answers, when it is done, with the result: 201 and the reconciliation.
Send either JSON \`{platform_id, source, date, file}\` with the CSV text in \`file\` (up to ${reconciliationHttpLimits.jsonBodyBytesMax} bytes), or
the file itself as a \`text/csv\` body with \`?platform_id=&source=&date=\`, streamed (up to ${reconciliationHttpLimits.csvBodyBytesMax} bytes).
Files are UTF-8 CSV (RFC 4180: fields with commas, quotes or line breaks in double quotes, quotes doubled; CRLF or LF; a BOM is
allowed) with a header row; amounts are whole fen; times RFC 3339.

Channel statement (\`source: channel:<name>\`), status succeeded or failed:

    channel_txn_id,order_no,amount,status,occurred_at
    sim_000001ab,pay-1001,10000,succeeded,2024-03-04T02:00:01.250Z
    sim_000002cd,pay-1002,2500,failed,2024-03-04T02:05:00Z

Bank statement of the custody account (\`source: bank\`), direction credit or debit:

    bank_txn_id,direction,amount,counterparty_account,counterparty_name,memo,occurred_at
    po_00000aX1,debit,700000,6222000011112222,张三,wdr-1001,2024-03-04T03:00:00Z
    po_00000aX1_rt,credit,700000,6222000011112222,张三,wdr-1001,2024-03-05T03:00:00Z
    b77812,credit,50000,6222000033334444,"Li, Si",1001000000000017,2024-03-04T04:00:00Z

Lines match our payins of that channel by channel_txn_id; bank debits our paid withdrawals by rail_txn_id, credits our bank
credits by bank_txn_id or a withdrawal's return (its rail_txn_id + \`_rt\`). A bad line refuses the whole file (400
\`invalid_request\`, \`param: file\`, the message names the line) and nothing is stored. An unmatched bank credit is recorded
at once (credited to the member whose sub_account_no the memo names, else a suspense item): a \`long\` break resolved as
\`recorded\`. See docs/reconciliation.md.`;

/** Lines of a JSON import's `file`. */
async function* once(text: string): AsyncGenerator<string> {
  yield text;
}

/** Breaks and a reconciliation as the API shows them. */
export function presentBreak(row: BreakRow, source: string) {
  const txnField = source === 'bank' ? 'bank_txn_id' : 'channel_txn_id';
  const objectField = row.object_type === 'payin' ? 'payin_id' : row.object_type === 'bank_credit' ? 'bank_credit_id' : 'withdrawal_id';
  const objectKind = row.object_type === 'payin' ? 'payin' : row.object_type === 'bank_credit' ? 'bankCredit' : 'withdrawal';
  return {
    id: breakPublicId(row.id),
    object: 'reconciliation_break' as const,
    reconciliation_id: toPublicId('reconciliation', row.reconciliation_id),
    kind: row.kind,
    ...(row.txn_id === null ? {} : { [txnField]: row.txn_id }),
    ...(row.order_no === null ? {} : { order_no: row.order_no }),
    ...(row.expected_amount === null ? {} : { expected_amount: present.amount(row.expected_amount) }),
    ...(row.actual_amount === null ? {} : { actual_amount: present.amount(row.actual_amount) }),
    ...(row.expected_status === null ? {} : { expected_status: row.expected_status }),
    ...(row.actual_status === null ? {} : { actual_status: row.actual_status }),
    ...(row.line_no === null ? {} : { line_no: Number(row.line_no) }),
    ...(row.object_id === null ? {} : { [objectField]: toPublicId(objectKind, row.object_id) }),
    detail: row.detail,
    resolution: row.resolution,
    resolution_note: row.resolution_note,
    adjustment_id: row.adjustment_id === null ? null : toPublicId('adjustment', row.adjustment_id),
    resolved_by: row.resolved_by,
    resolved_at: row.resolved_at === null ? null : present.time(row.resolved_at.getTime()),
  };
}

export function presentReconciliation(row: ReconciliationRow, breaks: readonly BreakRow[], shownMax: number) {
  return {
    id: toPublicId('reconciliation', row.id),
    object: 'reconciliation' as const,
    platform_id: toPublicId('platform', row.platform_id),
    source: row.source,
    date: row.business_date,
    status: row.status,
    lines: Number(row.lines),
    matched: Number(row.matched),
    breaks_count: Number(row.breaks),
    breaks_by_kind: {
      long: Number(row.breaks_long),
      short: Number(row.breaks_short),
      amount_mismatch: Number(row.breaks_amount_mismatch),
      status_mismatch: Number(row.breaks_status_mismatch),
    },
    breaks: breaks.slice(0, shownMax).map((b) => presentBreak(b, row.source)),
    has_more_breaks: breaks.length > shownMax,
    detail: row.detail,
    created_by: row.created_by,
    created: present.time(row.created_at.getTime()),
    completed_at: row.completed_at === null ? null : present.time(row.completed_at.getTime()),
  };
}

function required(value: string | undefined, param: string): string {
  if (value === undefined || value.length === 0) throw new CustodyError('invalid_request', `Missing required parameter: ${param}.`, param);
  return value;
}

/**
 * Reconciliation for the bank's operators, under `/v1/ops`: `operator` imports statements
 * and works breaks, `viewer` reads. The plugin adds its own `text/csv` parser, which hands
 * the request stream over unread: the file is parsed as it arrives, never held whole.
 */
export function reconciliationRoutes(_runtime: Runtime, service: ReconciliationService): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.addContentTypeParser('text/csv', (request, payload, done) => {
      const length = request.headers['content-length'];
      if (length !== undefined && Number(length) > reconciliationHttpLimits.csvBodyBytesMax) {
        done(new CustodyError('request_too_large', `A statement may have at most ${reconciliationHttpLimits.csvBodyBytesMax} bytes.`), undefined);
        return;
      }
      done(null, new CsvUpload(payload, length ?? null));
    });

    const show = async (row: ReconciliationRow) => {
      const breaks = row.status === 'importing' ? [] : await service.breaks(row.id, { limit: reconciliationHttpLimits.breaksShownMax + 1 });
      return presentReconciliation(row, breaks, reconciliationHttpLimits.breaksShownMax);
    };

    app.post(
      '/reconciliations',
      {
        bodyLimit: reconciliationHttpLimits.jsonBodyBytesMax,
        config: { access: operatorAccess('operator') },
        schema: {
          operationId: 'importReconciliation',
          summary: "Import a channel's or the bank's statement of a business date and classify its breaks.",
          description: importDescription,
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          querystring: ImportQuery,
          body: {
            content: {
              'application/json': { schema: ImportJson },
              // Not validated here: the stream is checked line by line as it is read.
              'text/csv': { schema: { description: 'The statement file itself (see the description), streamed.' } },
            },
          },
          response: { 201: Reconciliation, ...errorResponses(409, 413, 415) },
        },
      },
      async (request, reply) => {
        const body: unknown = request.body;
        const upload = body instanceof CsvUpload ? body : null;
        try {
          const fields = upload === null ? (body as ImportJson) : request.query;
          const source = required(fields.source, 'source');
          if (!isReconciliationSource(source)) throw new CustodyError('invalid_request', 'source must be bank or channel:<name>.', 'source');
          const platformId = internalId('platform', required(fields.platform_id, 'platform_id'), 'platform_id');
          const date = required(fields.date, 'date');
          const lines =
            upload === null
              ? textLines(once((body as ImportJson).file), { bytesMax: reconciliationHttpLimits.jsonBodyBytesMax })
              : textLines(upload.stream.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>, { bytesMax: reconciliationHttpLimits.csvBodyBytesMax });
          const row = await service.import(platformId, source, date, lines, actorOf(request));
          return reply.code(201).send(await show(row));
        } catch (error) {
          // The answer goes now, while the client may still be sending: the rest of the body
          // is read and dropped so that the client gets the answer, not a broken pipe. Only
          // a body over the limit is cut off, with the connection.
          if (upload !== null && !upload.stream.readableEnded) {
            if (error instanceof CustodyError && error.code === 'request_too_large') reply.header('connection', 'close');
            else upload.stream.resume();
          }
          throw error;
        }
      },
    );

    app.get(
      '/reconciliations',
      {
        config: { access: operatorAccess('viewer') },
        schema: {
          operationId: 'listReconciliations',
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          querystring: listQueryWith({ platform_id: Type.Optional(Type.String({ maxLength: 64 })) }),
          response: { 200: List(Type.Omit(Reconciliation, ['breaks', 'has_more_breaks'])), ...errorResponses() },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? limits.pageSizeDefault;
        const platformId = request.query.platform_id === undefined ? undefined : internalId('platform', request.query.platform_id, 'platform_id');
        const afterId = request.query.starting_after === undefined ? undefined : internalId('reconciliation', request.query.starting_after, 'starting_after');
        const rows = await service.list(platformId, { limit: limit + 1, afterId });
        return present.list(rows, limit, (row) => {
          const { breaks: _b, has_more_breaks: _h, ...rest } = presentReconciliation(row, [], 0);
          return rest;
        });
      },
    );

    app.get(
      '/reconciliations/:id',
      {
        config: { access: operatorAccess('viewer') },
        schema: {
          operationId: 'getReconciliation',
          summary: `A reconciliation with its first ${reconciliationHttpLimits.breaksShownMax} breaks (has_more_breaks: page the rest at /breaks).`,
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          params: IdParams,
          response: { 200: Reconciliation, ...errorResponses() },
        },
      },
      async (request) => show(await service.get(internalId('reconciliation', request.params.id))),
    );

    app.get(
      '/reconciliations/:id/breaks',
      {
        config: { access: operatorAccess('viewer') },
        schema: {
          operationId: 'listReconciliationBreaks',
          summary: 'The breaks of a reconciliation, oldest first; `resolved=false` lists the ones still to work.',
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          params: IdParams,
          querystring: listQueryWith({ resolved: Type.Optional(Type.Boolean()) }),
          response: { 200: List(Break), ...errorResponses() },
        },
      },
      async (request) => {
        const reconciliation = await service.get(internalId('reconciliation', request.params.id));
        const limit = request.query.limit ?? limits.pageSizeDefault;
        const afterId = request.query.starting_after === undefined ? undefined : breakInternalId(request.query.starting_after, 'starting_after');
        const rows = await service.breaks(reconciliation.id, { limit: limit + 1, afterId }, request.query.resolved);
        return present.list(rows, limit, (row) => presentBreak(row, reconciliation.source));
      },
    );

    app.get(
      '/reconciliation-breaks/:id',
      {
        config: { access: operatorAccess('viewer') },
        schema: { operationId: 'getReconciliationBreak', tags: ['ops'], security: [{ operatorToken: [] }], params: IdParams, response: { 200: Break, ...errorResponses() } },
      },
      async (request) => {
        const row = await service.getBreak(breakInternalId(request.params.id));
        return presentBreak(row, (await service.get(row.reconciliation_id)).source);
      },
    );

    app.post(
      '/reconciliation-breaks/:id/resolve',
      {
        config: { access: operatorAccess('operator') },
        schema: {
          operationId: 'resolveReconciliationBreak',
          summary: 'Work a break: explain it with a note, or name the adjustment (maker-checker) that corrects it. Who and when are kept.',
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          params: IdParams,
          body: ResolveBody,
          response: { 200: Break, ...errorResponses(409) },
        },
      },
      async (request) => {
        const body = request.body;
        let resolution: BreakResolution;
        if (body.action === 'explain') {
          if (body.adjustment_id !== undefined) throw new CustodyError('invalid_request', 'adjustment_id goes with action adjust.', 'adjustment_id');
          resolution = { action: 'explain', note: body.note ?? '' };
        } else {
          const adjustment = required(body.adjustment_id, 'adjustment_id');
          resolution = { action: 'adjust', adjustmentId: internalId('adjustment', adjustment, 'adjustment_id'), note: body.note };
        }
        const row = await service.resolve(breakInternalId(request.params.id), resolution, actorOf(request));
        return presentBreak(row, (await service.get(row.reconciliation_id)).source);
      },
    );
  };
}

import { simFieldReaders } from '../sim-fields.js';
import type { SimService, SimServiceResponse } from '../sim-server.js';
import { simJsonStringify, simServerLimits } from '../sim-server.js';
import { PayoutOutcomeUnknownError } from './payout-channel.js';
import type { PayoutRail, SendPayout } from './payout-channel.js';
import { PayoutRequestError, payoutWire, RailClosedError } from './payout-simulator.js';
import type { PayoutSimulator } from './payout-simulator.js';

/** The paths the payout service answers; the HTTP adapter posts to the same ones. */
export const payoutSimPaths = {
  payouts: '/payout/payouts',
  query: '/payout/payouts/query',
  railOpen: '/payout/rails/open',
  statement: '/payout/statement',
} as const;

/**
 * The statuses each refusal answers with. `rail_busy` answers 503 because nothing was
 * recorded and a client treating it as an unknown outcome will query, find nothing and may
 * send again; a lost answer answers 504 after the work was done, as a bank's gateway does
 * when the rail's reply never reaches it.
 */
export const payoutSimStatuses = {
  invalid_request: 400,
  rail_limit_exceeded: 400,
  payout_id_reused: 409,
  rail_closed: 409,
  payout_not_found: 404,
  statement_too_large: 413,
  rail_busy: 503,
  outcome_unknown: 504,
} as const;

type Route = (simulator: PayoutSimulator, body: unknown) => Promise<SimServiceResponse>;

const routes: Readonly<Record<string, Route>> = {
  [payoutSimPaths.payouts]: async (simulator, body) => ({ status: 200, body: payoutWire(await simulator.sendPayout(parseSend(body))) }),
  [payoutSimPaths.query]: async (simulator, body) => {
    const payoutId = stringField(record(body), 'payout_id');
    const state = await simulator.queryPayout(payoutId);
    if (state === null) return { status: payoutSimStatuses.payout_not_found, body: { error: 'payout_not_found', payout_id: payoutId } };
    return { status: 200, body: payoutWire(state) };
  },
  [payoutSimPaths.railOpen]: async (simulator, body) => {
    const fields = record(body);
    const rail = railField(fields);
    const atMs = instantField(fields, 'at');
    return { status: 200, body: { rail, at: new Date(atMs).toISOString(), open: simulator.isOpen(rail, atMs) } };
  },
  [payoutSimPaths.statement]: async (simulator, body) => {
    const fields = record(body);
    const fromMs = instantField(fields, 'from');
    const toMs = instantField(fields, 'to');
    const platformId = fields.platform_id === undefined ? undefined : stringField(fields, 'platform_id');
    const answer = { csv: simulator.statement(fromMs, toMs, platformId) };
    // The server answers at most `responseBytesMax`; a caller asks for a shorter window instead.
    if (Buffer.byteLength(simJsonStringify(answer)) > simServerLimits.responseBytesMax) {
      return { status: payoutSimStatuses.statement_too_large, body: { error: 'statement_too_large', bytesMax: simServerLimits.responseBytesMax } };
    }
    return { status: 200, body: answer };
  },
};

/**
 * The payout simulator as a `SimService` named `payout`. Requests and answers are snake_case
 * JSON (amounts as decimal strings of fen, times RFC 3339). A refused request answers 400
 * (`invalid_request`, `rail_limit_exceeded`) or 409 (`payout_id_reused`, or `rail_closed`
 * with `opens_at`); an unknown payout answers 404 `payout_not_found`; a payout whose answer
 * the simulator lost is recorded all the same and answers 504 `outcome_unknown`.
 */
export function payoutSimService(simulator: PayoutSimulator): SimService {
  return {
    name: 'payout',
    handle(path: string, body: unknown): Promise<SimServiceResponse> | undefined {
      const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
      if (route === undefined) return undefined;
      return answer(() => route(simulator, body));
    },
  };
}

async function answer(work: () => Promise<SimServiceResponse>): Promise<SimServiceResponse> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof PayoutOutcomeUnknownError) {
      return { status: payoutSimStatuses.outcome_unknown, body: { error: 'outcome_unknown', payout_id: error.payoutId } };
    }
    if (error instanceof RailClosedError) {
      const body = { error: 'rail_closed', rail: error.rail, at: new Date(error.atMs).toISOString(), opens_at: new Date(error.opensAtMs).toISOString() };
      return { status: payoutSimStatuses.rail_closed, body };
    }
    if (error instanceof PayoutRequestError) {
      return { status: payoutSimStatuses[error.code], body: { error: error.code, message: error.message } };
    }
    throw error;
  }
}

function invalid(message: string): never {
  throw new PayoutRequestError('invalid_request', message);
}

function railField(fields: Readonly<Record<string, unknown>>): PayoutRail {
  const rail = stringField(fields, 'rail');
  if (rail !== 'realtime' && rail !== 'high_value') invalid('rail must be realtime or high_value');
  return rail;
}

const { record, stringField, minorField, instantField } = simFieldReaders(invalid);

/** Fields are read in the port's order, so the first bad one is the one reported. */
function parseSend(body: unknown): SendPayout {
  const fields = record(body);
  return {
    payoutId: stringField(fields, 'payout_id'),
    platformId: stringField(fields, 'platform_id'),
    orderNo: stringField(fields, 'order_no'),
    amountMinor: minorField(fields, 'amount'),
    currency: stringField(fields, 'currency'),
    rail: railField(fields),
    cardNumber: stringField(fields, 'card_number'),
    accountName: stringField(fields, 'account_name'),
  };
}

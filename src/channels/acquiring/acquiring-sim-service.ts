import { simFieldReaders } from '../sim-fields.js';
import type { SimService, SimServiceResponse } from '../sim-server.js';
import { simJsonStringify, simServerLimits } from '../sim-server.js';
import type { CallbackSink, CreatePayment } from './acquiring-channel.js';
import { AcquiringRequestError, paymentWire } from './acquiring-simulator.js';
import type { AcquiringSimulator } from './acquiring-simulator.js';

/** The paths the acquiring service answers; the HTTP adapter posts to the same ones. */
export const acquiringSimPaths = {
  payments: '/acquiring/payments',
  query: '/acquiring/payments/query',
  statement: '/acquiring/statement',
  deliver: '/acquiring/deliver',
} as const;

/** The header a callback's signature travels in when the simulator POSTs it, as Custos's webhooks sign theirs. */
export const acquiringCallbackSignatureHeader = 'Custos-Signature';

export const httpCallbackSinkDefaults = {
  /** One delivery's budget; a sink that takes longer counts as failed and is retried later. */
  timeoutMs: 2000,
} as const;

type Route = (simulator: AcquiringSimulator, body: unknown) => Promise<SimServiceResponse>;

const routes: Readonly<Record<string, Route>> = {
  [acquiringSimPaths.payments]: async (simulator, body) => {
    const { channel, request } = parseCreate(body);
    const state = await simulator.channel(channel).createPayment(request);
    return { status: 200, body: paymentWire(channel, state) };
  },
  [acquiringSimPaths.query]: async (simulator, body) => {
    const fields = record(body);
    const channel = stringField(fields, 'channel');
    const paymentId = stringField(fields, 'payment_id');
    const state = await simulator.channel(channel).queryPayment(paymentId);
    if (state === null) return { status: 404, body: { error: 'payment_not_found', payment_id: paymentId } };
    return { status: 200, body: paymentWire(channel, state) };
  },
  [acquiringSimPaths.statement]: async (simulator, body) => {
    const fields = record(body);
    const channel = stringField(fields, 'channel');
    const fromMs = instantField(fields, 'from');
    const toMs = instantField(fields, 'to');
    const timeZone = fields.time_zone === undefined ? undefined : stringField(fields, 'time_zone');
    const answer = { csv: simulator.statement(channel, fromMs, toMs, timeZone) };
    // The server answers at most `responseBytesMax`; a caller asks for a shorter window instead.
    if (Buffer.byteLength(simJsonStringify(answer)) > simServerLimits.responseBytesMax) {
      return { status: 413, body: { error: 'statement_too_large', bytesMax: simServerLimits.responseBytesMax } };
    }
    return { status: 200, body: answer };
  },
  [acquiringSimPaths.deliver]: async (simulator) => ({ status: 200, body: { delivered: await simulator.deliverDue() } }),
};

/**
 * The acquiring simulator as a `SimService`. Requests and answers use the callback body's
 * snake_case JSON (bigints as decimal strings, times RFC 3339). A refused request answers
 * 400 (`invalid_request`, `unknown_channel`) or 409 (`payment_id_reused`); an unknown payment
 * answers 404 `payment_not_found`.
 */
export function acquiringSimService(simulator: AcquiringSimulator): SimService {
  return {
    name: 'acquiring',
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
    if (error instanceof AcquiringRequestError) {
      return { status: error.code === 'payment_id_reused' ? 409 : 400, body: { error: error.code, message: error.message } };
    }
    throw error;
  }
}

/**
 * A sink that POSTs each callback's body as JSON to `url`, its signature in the
 * `Custos-Signature` header, the way a real channel notifies a merchant. Anything but a 2xx
 * answer within `timeoutMs` throws, so the simulator delivers the callback again later.
 */
export function httpCallbackSink(url: string, timeoutMs: number = httpCallbackSinkDefaults.timeoutMs): CallbackSink {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('the callback URL must be http or https');
  return async (callback) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [acquiringCallbackSignatureHeader]: callback.signature },
      body: callback.body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    // The answer's body means nothing to a channel; dropping it frees the connection.
    await response.body?.cancel();
    if (response.status < 200 || response.status > 299) throw new Error(`the callback URL answered ${response.status}`);
  };
}

function invalid(message: string): never {
  throw new AcquiringRequestError('invalid_request', message);
}

const { record, stringField, minorField, instantField } = simFieldReaders(invalid);

function parseCreate(body: unknown): { channel: string; request: CreatePayment } {
  const fields = record(body);
  return {
    channel: stringField(fields, 'channel'),
    request: {
      paymentId: stringField(fields, 'payment_id'),
      orderNo: stringField(fields, 'order_no'),
      amountMinor: minorField(fields, 'amount'),
      currency: stringField(fields, 'currency'),
      platformId: stringField(fields, 'platform_id'),
    },
  };
}

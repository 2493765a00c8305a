import { limits } from '../../limits.js';
import type { SimService, SimServiceResponse } from '../sim-server.js';
import { SimRequestError } from './identity-simulator.js';
import type { IdentitySimulator } from './identity-simulator.js';
import { ProviderTimeoutError } from './identity-verifier.js';
import type { FourElementsRequest, MicroDepositRequest, SmsRequest } from './identity-verifier.js';

/** The paths the identity service answers; the HTTP adapter posts to the same ones. */
export const identitySimPaths = {
  fourElements: '/identity/four-elements',
  sms: '/identity/sms',
  microDeposits: '/identity/micro-deposits',
  inspectSms: '/identity/inspect/sms',
  inspectCalls: '/identity/inspect/calls',
} as const;

type Route = (simulator: IdentitySimulator, body: unknown) => Promise<unknown>;

const routes: Readonly<Record<string, Route>> = {
  [identitySimPaths.fourElements]: (simulator, body) => simulator.verifyFourElements(parseFourElements(body)),
  [identitySimPaths.sms]: (simulator, body) => simulator.sendSms(parseSms(body)),
  [identitySimPaths.microDeposits]: (simulator, body) => simulator.sendMicroDeposit(parseMicroDeposit(body)),
  [identitySimPaths.inspectSms]: async (simulator, body) => {
    const phone = stringField(record(body), 'phone');
    return { phone, texts: simulator.smsSent(phone) };
  },
  [identitySimPaths.inspectCalls]: async (simulator, body) => {
    const requestId = optionalStringField(record(body), 'requestId');
    const calls = simulator.calls().filter((call) => requestId === undefined || call.requestId === requestId);
    // A page of the newest calls keeps the answer under the response size limit.
    return { calls: calls.slice(-limits.pageSizeMax) };
  },
};

/**
 * The identity simulator as a `SimService`. Requests are the port's request objects as JSON
 * (bigints as decimal strings); answers are the simulator's results. A simulated timeout
 * answers 504 after the simulated latency, as a provider's gateway would, and a refused
 * request answers 400 (`invalid_request`) or 409 (`request_id_reused`).
 */
export function identitySimService(simulator: IdentitySimulator): SimService {
  return {
    name: 'identity',
    handle(path: string, body: unknown): Promise<SimServiceResponse> | undefined {
      const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
      if (route === undefined) return undefined;
      return answer(() => route(simulator, body));
    },
  };
}

async function answer(work: () => Promise<unknown>): Promise<SimServiceResponse> {
  try {
    return { status: 200, body: await work() };
  } catch (error) {
    if (error instanceof ProviderTimeoutError) return { status: 504, body: { error: 'provider_timeout' } };
    if (error instanceof SimRequestError) {
      return { status: error.code === 'request_id_reused' ? 409 : 400, body: { error: error.code, message: error.message } };
    }
    throw error;
  }
}

function record(body: unknown): Readonly<Record<string, unknown>> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new SimRequestError('invalid_request', 'the body must be a JSON object');
  }
  return body as Readonly<Record<string, unknown>>;
}

function stringField(fields: Readonly<Record<string, unknown>>, name: string): string {
  const value = fields[name];
  if (typeof value !== 'string') throw new SimRequestError('invalid_request', `${name} must be a string`);
  return value;
}

function optionalStringField(fields: Readonly<Record<string, unknown>>, name: string): string | undefined {
  return fields[name] === undefined ? undefined : stringField(fields, name);
}

/** Amounts travel as decimal strings; the simulator checks their range. */
function minorField(fields: Readonly<Record<string, unknown>>, name: string): bigint {
  const value = stringField(fields, name);
  if (!/^\d{1,19}$/.test(value)) throw new SimRequestError('invalid_request', `${name} must be a decimal string of fen`);
  return BigInt(value);
}

function parseFourElements(body: unknown): FourElementsRequest {
  const fields = record(body);
  return {
    requestId: stringField(fields, 'requestId'),
    name: stringField(fields, 'name'),
    idNumber: stringField(fields, 'idNumber'),
    cardNumber: stringField(fields, 'cardNumber'),
    phone: stringField(fields, 'phone'),
  };
}

function parseSms(body: unknown): SmsRequest {
  const fields = record(body);
  return { requestId: stringField(fields, 'requestId'), phone: stringField(fields, 'phone'), text: stringField(fields, 'text') };
}

function parseMicroDeposit(body: unknown): MicroDepositRequest {
  const fields = record(body);
  return {
    requestId: stringField(fields, 'requestId'),
    name: stringField(fields, 'name'),
    cardNumber: stringField(fields, 'cardNumber'),
    amountMinor: minorField(fields, 'amountMinor'),
  };
}

import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { signatureToleranceSecondsDefault, signPayload, verifySignature } from './signature.js';

/**
 * The channel simulator's HTTP face: one small server that carries every simulated provider
 * (identity now; acquiring and payouts later) so that a sandbox, a load test or another
 * process can talk to the simulators the way Custos talks to real providers, over signed
 * HTTP. Both halves of the protocol live here: `startSimServer` and `postToSimServer`.
 *
 * Protocol: every request is a POST of a JSON body signed in the `Custos-Sim-Signature`
 * header (see signature.ts); every response, errors included, is signed the same way so the
 * client can tell the simulator's answers from anything else's. Bigints travel as decimal
 * strings.
 */

export const simSignatureHeader = 'Custos-Sim-Signature';

export const simServerLimits = {
  /** Largest request body; the identity requests are a few hundred bytes. */
  bodyBytesMax: 65_536,
  /** Largest response body a service may return and a client will read. */
  responseBytesMax: 65_536,
  /** Time a client has to send its whole request. */
  requestTimeoutMs: 10_000,
  headersTimeoutMs: 5_000,
  signatureToleranceSeconds: signatureToleranceSecondsDefault,
} as const;

export interface SimServiceResponse {
  readonly status: number;
  readonly body: unknown;
}

/** One simulated provider on the server. `handle` answers undefined for a path it does not serve. */
export interface SimService {
  readonly name: string;
  handle(path: string, body: unknown): Promise<SimServiceResponse> | undefined;
}

export interface SimServerOptions {
  /** Default 127.0.0.1: a simulator has no business on a public interface. */
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port?: number;
  readonly secret: string;
  readonly services: readonly SimService[];
}

export interface SimServer {
  /** Base URL, e.g. `http://127.0.0.1:8090`, without a trailing slash. */
  readonly url: string;
  close(): Promise<void>;
}

/** JSON with bigints written as decimal strings, the simulators' wire format. */
export function simJsonStringify(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item));
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export async function startSimServer(options: SimServerOptions): Promise<SimServer> {
  if (options.secret.length === 0) throw new Error('the simulator needs a signing secret');
  const names = new Set(options.services.map((service) => service.name));
  if (names.size !== options.services.length) throw new Error('simulator service names must be unique');
  const host = options.host ?? '127.0.0.1';

  const server = createServer((request, response) => {
    handleRequest(request, response, options).catch((error: unknown) => failRequest(response, options.secret, error));
  });
  server.requestTimeout = simServerLimits.requestTimeoutMs;
  server.headersTimeout = simServerLimits.headersTimeoutMs;
  await listen(server, host, options.port ?? 0);

  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    close: () => closeServer(server),
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Stops listening and cuts open connections, so a request a service never answers cannot hold the close up. */
function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}

/** Checks run in a fixed order, the first failure answering: method, size, signature, JSON, path. */
async function handleRequest(request: IncomingMessage, response: ServerResponse, options: SimServerOptions): Promise<void> {
  const reply = (status: number, body: unknown): void => sendSigned(response, options.secret, status, body);
  if (request.method !== 'POST') {
    request.resume();
    return reply(405, { error: 'method_not_allowed' });
  }
  const raw = await readRequestBody(request, simServerLimits.bodyBytesMax);
  if (raw === null) return reply(413, { error: 'body_too_large', bytesMax: simServerLimits.bodyBytesMax });

  const header = request.headers[simSignatureHeader.toLowerCase()];
  const verdict = verifySignature(
    options.secret,
    raw,
    typeof header === 'string' ? header : undefined,
    nowSeconds(),
    simServerLimits.signatureToleranceSeconds,
  );
  if (verdict !== 'ok') return reply(401, { error: 'bad_signature', reason: verdict });

  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return reply(400, { error: 'invalid_json' });
  }
  const path = new URL(request.url ?? '/', 'http://sim.invalid').pathname;
  for (const service of options.services) {
    const handled = service.handle(path, body);
    if (handled !== undefined) {
      const answer = await handled;
      return reply(answer.status, answer.body);
    }
  }
  return reply(404, { error: 'not_found', path });
}

/** The body as text, or null when it exceeds `bytesMax` (the rest is drained and dropped). */
async function readRequestBody(request: IncomingMessage, bytesMax: number): Promise<string | null> {
  const declaredBytes = Number(request.headers['content-length'] ?? 0);
  if (declaredBytes > bytesMax) {
    request.resume();
    return null;
  }
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes <= bytesMax) chunks.push(chunk);
  }
  return bytes > bytesMax ? null : Buffer.concat(chunks).toString('utf8');
}

function sendSigned(response: ServerResponse, secret: string, status: number, body: unknown): void {
  if (response.headersSent || response.destroyed) return;
  const full = simJsonStringify(body);
  // A client stops reading past the limit, so an oversized answer is the service's bug to report.
  const fits = Buffer.byteLength(full) <= simServerLimits.responseBytesMax;
  const text = fits ? full : simJsonStringify({ error: 'response_too_large' });
  response.writeHead(fits ? status : 500, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    [simSignatureHeader]: signPayload(secret, text, nowSeconds()),
  });
  response.end(text);
}

/** A service threw or the client went away: answer 500 if anyone is still listening. */
function failRequest(response: ServerResponse, secret: string, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  try {
    sendSigned(response, secret, 500, { error: 'internal', message });
  } catch {
    response.destroy();
  }
}

// ---------------------------------------------------------------------------------------
// Client half

export interface SimClientOptions {
  /** The server's URL, as `startSimServer` returns it. */
  readonly baseUrl: string;
  readonly secret: string;
  /** Time for the whole exchange, body included. */
  readonly timeoutMs: number;
}

/** No answer arrived: the connection failed or the time ran out. The request may or may not have been served. */
export class SimTransportError extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
  }
}

/** An answer arrived but cannot be trusted or read: bad signature, too large, not JSON. */
export class SimResponseError extends Error {
  constructor(
    readonly reason: 'bad_signature' | 'too_large' | 'invalid_json',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Posts a signed JSON request and returns the verified answer whatever its status. Nothing
 * in an answer is believed before its signature is checked.
 */
export async function postToSimServer(options: SimClientOptions, path: string, payload: unknown): Promise<SimServiceResponse> {
  const text = simJsonStringify(payload);
  const url = `${options.baseUrl.replace(/\/+$/, '')}${path}`;
  let status: number;
  let headerValue: string | null;
  let raw: string | null;
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [simSignatureHeader]: signPayload(options.secret, text, nowSeconds()) },
      body: text,
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    status = response.status;
    headerValue = response.headers.get(simSignatureHeader);
    raw = await readResponseBody(response, simServerLimits.responseBytesMax);
  } catch (error) {
    throw new SimTransportError(`no answer from ${url}: ${error instanceof Error ? error.message : String(error)}`, error);
  }
  if (raw === null) throw new SimResponseError('too_large', `the answer from ${url} exceeds ${simServerLimits.responseBytesMax} bytes`);
  // A gateway or proxy in front of the simulator answers 502/503/504 without our signature:
  // nothing reached the simulator (or its answer was lost), so the outcome is unknown, and
  // the caller may retry under the same request id.
  if (headerValue === null && (status === 502 || status === 503 || status === 504)) {
    throw new SimTransportError(`${url} is unavailable behind a gateway (${status})`, null);
  }
  const verdict = verifySignature(options.secret, raw, headerValue ?? undefined, nowSeconds(), simServerLimits.signatureToleranceSeconds);
  if (verdict !== 'ok') throw new SimResponseError('bad_signature', `the answer from ${url} failed its signature check: ${verdict}`);
  try {
    return { status, body: JSON.parse(raw) as unknown };
  } catch {
    throw new SimResponseError('invalid_json', `the answer from ${url} is not JSON`);
  }
}

/** The body as text, or null past `bytesMax`: a client must bound what it reads as a server must. */
async function readResponseBody(response: Response, bytesMax: number): Promise<string | null> {
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > bytesMax) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

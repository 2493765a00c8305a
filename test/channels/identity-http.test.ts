import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HttpIdentityVerifier,
  ProviderResponseError,
  ProviderTransportError,
} from '../../src/channels/identity/http-identity-verifier.js';
import { identitySimPaths, identitySimService } from '../../src/channels/identity/identity-sim-service.js';
import { IdentitySimulator } from '../../src/channels/identity/identity-simulator.js';
import type { IdentitySimulatorOptions } from '../../src/channels/identity/identity-simulator.js';
import { ProviderTimeoutError, ProviderUnavailableError } from '../../src/channels/identity/identity-verifier.js';
import type { FourElementsRequest } from '../../src/channels/identity/identity-verifier.js';
import { RetryingIdentityVerifier } from '../../src/channels/identity/retrying-identity-verifier.js';
import {
  postToSimServer,
  simServerLimits,
  simSignatureHeader,
  startSimServer,
} from '../../src/channels/sim-server.js';
import type { SimServer, SimService } from '../../src/channels/sim-server.js';
import { signPayload, verifySignature } from '../../src/channels/signature.js';

const secret = 'sim-secret-for-tests';
const goodCard = '6222020200112233445';
const mismatchCard = '6222020200110000002';
const phone = '13800138000';

function fourElements(requestId: string, cardNumber = goodCard): FourElementsRequest {
  return { requestId, name: '张三', idNumber: '110101199003076578', cardNumber, phone };
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

async function settle<T>(promise: Promise<T>): Promise<T | Error> {
  return promise.catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
}

async function startIdentityServer(options: IdentitySimulatorOptions = {}): Promise<{ server: SimServer; sim: IdentitySimulator }> {
  const sim = new IdentitySimulator({ latencyMsMin: 0, latencyMsMax: 2, timeoutRate: 0, ...options });
  const server = await startSimServer({ port: 0, secret, services: [identitySimService(sim)] });
  return { server, sim };
}

/** A raw POST, for requests the client half would never send. */
async function rawPost(url: string, body: string, headers: Record<string, string>, method = 'POST'): Promise<{ status: number; text: string; signature: string | null }> {
  const response = await fetch(url, { method, headers, body: method === 'GET' ? undefined : body });
  return { status: response.status, text: await response.text(), signature: response.headers.get(simSignatureHeader) };
}

describe('identity over the sim server', () => {
  let server: SimServer;
  let sim: IdentitySimulator;
  let verifier: HttpIdentityVerifier;

  beforeAll(async () => {
    ({ server, sim } = await startIdentityServer());
    verifier = new HttpIdentityVerifier({ baseUrl: server.url, secret });
  });

  afterAll(async () => {
    await server.close();
  });

  it('verifies four elements end to end, fees as bigints', async () => {
    const matched = await verifier.verifyFourElements(fourElements('h-match'));
    const mismatched = await verifier.verifyFourElements(fourElements('h-mismatch', mismatchCard));
    expect(matched).toMatchObject({ provider: 'sim', requestId: 'h-match', outcome: 'match', attempts: 1, feeMinor: 50n });
    expect(mismatched).toMatchObject({ outcome: 'mismatch', feeMinor: 50n });
    expect(matched.providerRef).toMatch(/^sim_/);
    expect(sim.calls().find((call) => call.requestId === 'h-match')?.outcome).toBe('match');
  });

  it('sends micro deposits with bigint amounts and answers the rejected magic card', async () => {
    const sent = await verifier.sendMicroDeposit({ requestId: 'h-d1', name: '张三', cardNumber: goodCard, amountMinor: 23n });
    const rejected = await verifier.sendMicroDeposit({ requestId: 'h-d2', name: '张三', cardNumber: mismatchCard, amountMinor: 23n });
    expect(sent.outcome).toBe('sent');
    expect(rejected.outcome).toBe('rejected');
  });

  it('delivers an SMS the sandbox can read back through the inspection path', async () => {
    const result = await verifier.sendSms({ requestId: 'h-sms', phone, text: '验证码 482913' });
    expect(result).toMatchObject({ outcome: 'sent', feeMinor: 0n });
    const inspected = await postToSimServer({ baseUrl: server.url, secret, timeoutMs: 1000 }, identitySimPaths.inspectSms, { phone });
    expect(inspected).toEqual({ status: 200, body: { phone, texts: ['验证码 482913'] } });
  });

  it('answers a repeated request id with the same reference over HTTP too', async () => {
    const first = await verifier.verifyFourElements(fourElements('h-twice'));
    const again = await verifier.verifyFourElements(fourElements('h-twice'));
    expect(again.providerRef).toBe(first.providerRef);
    const inspected = await postToSimServer({ baseUrl: server.url, secret, timeoutMs: 1000 }, identitySimPaths.inspectCalls, { requestId: 'h-twice' });
    expect(inspected.body).toEqual({
      calls: [
        { kind: 'four_elements', requestId: 'h-twice', outcome: 'match', feeMinor: '50', replayed: false, timedOut: false },
        { kind: 'four_elements', requestId: 'h-twice', outcome: 'match', feeMinor: '0', replayed: true, timedOut: false },
      ],
    });
  });

  it('refuses a reused request id and a malformed request without retrying', async () => {
    await verifier.verifyFourElements(fourElements('h-reuse'));
    const retrying = new RetryingIdentityVerifier(verifier);
    const reused = await settle(retrying.verifyFourElements(fourElements('h-reuse', mismatchCard)));
    expect(reused).toBeInstanceOf(ProviderResponseError);
    expect(reused).toMatchObject({ reason: 'refused', status: 409 });
    const tooMuch = await settle(retrying.sendMicroDeposit({ requestId: 'h-d3', name: '张三', cardNumber: goodCard, amountMinor: 51n }));
    expect(tooMuch).toMatchObject({ reason: 'refused', status: 400 });
    expect(sim.calls().filter((call) => call.requestId === 'h-reuse')).toHaveLength(1);
  });

  it('answers 401 bad_signature, itself signed, to an unsigned, forged or stale request', async () => {
    const body = JSON.stringify(fourElements('h-unsigned'));
    const url = `${server.url}${identitySimPaths.fourElements}`;
    const json = { 'content-type': 'application/json' };
    const unsigned = await rawPost(url, body, json);
    const forged = await rawPost(url, body, { ...json, [simSignatureHeader]: signPayload('not-the-secret', body, nowSeconds()) });
    const stale = await rawPost(url, body, { ...json, [simSignatureHeader]: signPayload(secret, body, nowSeconds() - 301) });
    for (const [answer, reason] of [[unsigned, 'missing'], [forged, 'mismatch'], [stale, 'expired']] as const) {
      expect(answer.status).toBe(401);
      expect(JSON.parse(answer.text)).toEqual({ error: 'bad_signature', reason });
      expect(verifySignature(secret, answer.text, answer.signature ?? undefined, nowSeconds(), 300)).toBe('ok');
    }
    expect(sim.calls().some((call) => call.requestId === 'h-unsigned')).toBe(false);
  });

  it('answers 405 to other methods, 413 past 64 KiB, 400 to bad JSON, 404 to unknown paths', async () => {
    const signed = (body: string): Record<string, string> => ({ [simSignatureHeader]: signPayload(secret, body, nowSeconds()) });
    const get = await rawPost(`${server.url}${identitySimPaths.fourElements}`, '', {}, 'GET');
    const large = 'x'.repeat(simServerLimits.bodyBytesMax + 1);
    const tooLarge = await rawPost(`${server.url}${identitySimPaths.sms}`, large, signed(large));
    const notJson = await rawPost(`${server.url}${identitySimPaths.sms}`, '{nope', signed('{nope'));
    const unknown = await postToSimServer({ baseUrl: server.url, secret, timeoutMs: 1000 }, '/identity/nothing-here', {});
    expect([get.status, tooLarge.status, notJson.status, unknown.status]).toEqual([405, 413, 400, 404]);
    expect(JSON.parse(tooLarge.text)).toMatchObject({ error: 'body_too_large' });
    expect(unknown.body).toMatchObject({ error: 'not_found' });
  });
});

describe('identity over HTTP when things go wrong', () => {
  it('retries a simulated provider timeout (504) with the same request id and charges once', async () => {
    const { server, sim } = await startIdentityServer({ timeoutRate: 1 });
    try {
      const retrying = new RetryingIdentityVerifier(new HttpIdentityVerifier({ baseUrl: server.url, secret }));
      const result = await retrying.verifyFourElements(fourElements('h-flaky', mismatchCard));
      expect(result).toMatchObject({ outcome: 'mismatch', attempts: 2, feeMinor: 50n });
      expect(sim.calls().map((call) => [call.requestId, call.feeMinor, call.timedOut])).toEqual([
        ['h-flaky', 50n, true],
        ['h-flaky', 0n, false],
      ]);
    } finally {
      await server.close();
    }
  });

  it('times out on a server that hangs, retries the same request id, then gives up', async () => {
    const seen: unknown[] = [];
    const hanging: SimService = {
      name: 'identity',
      handle(_path, body) {
        seen.push(body);
        return new Promise(() => {});
      },
    };
    const server = await startSimServer({ port: 0, secret, services: [hanging] });
    try {
      const retrying = new RetryingIdentityVerifier(new HttpIdentityVerifier({ baseUrl: server.url, secret, timeoutMs: 80 }));
      const error = await settle(retrying.verifyFourElements(fourElements('h-hang')));
      expect(error).toBeInstanceOf(ProviderUnavailableError);
      expect(error).toMatchObject({ requestId: 'h-hang', attempts: 4 });
      expect((error as Error).cause).toBeInstanceOf(ProviderTransportError);
      expect(seen.map((body) => (body as { requestId: string }).requestId)).toEqual(['h-hang', 'h-hang', 'h-hang', 'h-hang']);
    } finally {
      await server.close();
    }
  });

  it('maps a refused connection to a retryable timeout', async () => {
    const { server } = await startIdentityServer();
    await server.close();
    const error = await settle(new HttpIdentityVerifier({ baseUrl: server.url, secret }).verifyFourElements(fourElements('h-closed')));
    expect(error).toBeInstanceOf(ProviderTimeoutError);
    expect(error).toMatchObject({ requestId: 'h-closed' });
  });

  it('refuses an answer whose body was tampered with on the way, and does not retry it', async () => {
    const { server, sim } = await startIdentityServer();
    let forwarded = 0;
    // A man in the middle turns the bank's mismatch into a match and keeps the signature.
    const proxy = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        forwarded += 1;
        void fetch(`${server.url}${request.url ?? ''}`, {
          method: 'POST',
          headers: { [simSignatureHeader]: String(request.headers[simSignatureHeader.toLowerCase()]) },
          body: Buffer.concat(chunks),
        }).then(async (upstream) => {
          const text = (await upstream.text()).replace('"mismatch"', '"match"');
          response.writeHead(upstream.status, { [simSignatureHeader]: upstream.headers.get(simSignatureHeader) ?? '' });
          response.end(text);
        });
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const baseUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const retrying = new RetryingIdentityVerifier(new HttpIdentityVerifier({ baseUrl, secret }));
      const honest = await retrying.verifyFourElements(fourElements('h-honest'));
      expect(honest.outcome).toBe('match');
      const error = await settle(retrying.verifyFourElements(fourElements('h-tampered', mismatchCard)));
      expect(error).toBeInstanceOf(ProviderResponseError);
      expect(error).toMatchObject({ reason: 'bad_signature', requestId: 'h-tampered' });
      expect(forwarded).toBe(2);
      expect(sim.calls().find((call) => call.requestId === 'h-tampered')?.outcome).toBe('mismatch');
    } finally {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await server.close();
    }
  });

  it('refuses an answer signed with another secret', async () => {
    const { server } = await startIdentityServer();
    try {
      const verifier = new HttpIdentityVerifier({ baseUrl: server.url, secret: 'another-secret' });
      const error = await settle(verifier.verifyFourElements(fourElements('h-other')));
      // The server refuses the request first; its signed 401 then fails the client's own check.
      expect(error).toMatchObject({ reason: 'bad_signature' });
    } finally {
      await server.close();
    }
  });
});

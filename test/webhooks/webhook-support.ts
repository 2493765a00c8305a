import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import { WebhookDispatcher } from '../../src/custody/webhook-dispatcher.js';
import type { WebhookDispatcherOptions } from '../../src/custody/webhook-dispatcher.js';
import { WebhookService } from '../../src/custody/webhook-service.js';
import { opsWebhookRoutes, webhookRoutes } from '../../src/http/routes/webhook-routes.js';
import type { Runtime } from '../../src/runtime.js';
import { PiiVault } from '../../src/security/pii-vault.js';
import { SqlWebhookStore } from '../../src/storage/sql-webhook-store.js';
import type { AdapterName } from '../../src/storage/open-store.js';
import { adminToken, json } from '../support/http-fixtures.js';
import type { Json } from '../support/http-fixtures.js';
import { openTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

/**
 * Webhook suites: a Custos app with the webhook routes registered (as the runtime will wire
 * them), a dispatcher the test runs by hand after moving the clock (the runtime's due jobs
 * will run it), and real HTTP receivers on loopback ports.
 */

export interface WebhookApp extends TestApp {
  readonly service: WebhookService;
  readonly store: SqlWebhookStore;
  readonly vault: PiiVault;
  readonly dispatcher: WebhookDispatcher;
  dispatcherWith(options: WebhookDispatcherOptions): WebhookDispatcher;
  /** Moves the sandbox clock through the API (due jobs run), then runs the dispatcher. */
  advance(seconds: number): Promise<void>;
}

export async function openWebhookApp(adapter: AdapterName, options: WebhookDispatcherOptions = {}): Promise<WebhookApp> {
  const t = await openTestApp(adapter);
  // The runtime's own key: secrets this suite's service encrypts are the runtime's to read,
  // should the runtime run a webhook dispatcher of its own.
  const vault = new PiiVault(Buffer.from(t.runtime.config.encryptionKey ?? '', 'hex'));
  const store = SqlWebhookStore.on(t.runtime.ledger.kysely);
  const service = new WebhookService(store, vault, t.runtime.clock, t.runtime.config.sandbox);
  // Registered here until the app registers them itself.
  if (!t.app.hasRoute({ method: 'POST', url: '/v1/webhook-endpoints' })) {
    await t.app.register(webhookRoutes(t.runtime, service), { prefix: '/v1' });
    await t.app.register(opsWebhookRoutes(t.runtime, service), { prefix: '/v1/ops' });
  }
  const dispatcherWith = (more: WebhookDispatcherOptions) => new WebhookDispatcher(store, service, t.runtime.clock, { timeoutMs: 2000, ...options, ...more });
  const dispatcher = dispatcherWith({});
  return {
    ...t,
    service,
    store,
    vault,
    dispatcher,
    dispatcherWith,
    async advance(seconds) {
      const response = await t.call('POST', '/v1/ops/clock/advance', adminToken, { seconds });
      expect(response.statusCode, response.body).toBe(200);
      await dispatcher.runDue();
    },
  };
}

/**
 * Moves the sandbox clock a second and lets the acquiring simulator answer (payins are
 * decided), without running the other due jobs: the test's dispatcher is the only one that
 * sends, whether or not the runtime runs one of its own in its due jobs.
 */
export async function decidePayins(t: TestApp, seconds = 1): Promise<void> {
  t.runtime.sandboxClock?.advance(seconds);
  await t.runtime.acquiringSimulator?.deliverDue();
}

/** A second runtime on the same database (another "process"), sharing the webhook vault key. */
export function webhookPartsOn(runtime: Runtime, vault: PiiVault, options: WebhookDispatcherOptions = {}) {
  const store = SqlWebhookStore.on(runtime.ledger.kysely);
  const service = new WebhookService(store, vault, runtime.clock, runtime.config.sandbox);
  return { store, service, dispatcher: new WebhookDispatcher(store, service, runtime.clock, { timeoutMs: 2000, ...options }) };
}

export interface Hit {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawBody: string;
  readonly body: Json;
  /** The status the receiver answered (null: it hung). */
  readonly status: number | null;
}

export type Behaviour = { readonly kind: 'status'; readonly status: number; readonly delayMs?: number } | { readonly kind: 'hang' };

/**
 * An HTTP receiver on 127.0.0.1: records every request's raw body and headers, in arrival
 * order, and answers per path as told (a status, or never). `log` interleaves arrivals with
 * the moments hung requests were cut off by the sender.
 */
export class Receiver {
  readonly hits: Hit[] = [];
  readonly log: string[] = [];
  private readonly behaviours = new Map<string, Behaviour | ((hit: Omit<Hit, 'status'>) => Behaviour)>();
  private server: Server | null = null;
  private port = 0;

  async start(): Promise<this> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const rawBody = Buffer.concat(chunks).toString('utf8');
        const path = request.url ?? '/';
        const seen = { path, headers: request.headers, rawBody, body: JSON.parse(rawBody) as Json };
        const rule = this.behaviours.get(path) ?? { kind: 'status', status: 200 };
        const behaviour = typeof rule === 'function' ? rule(seen) : rule;
        this.log.push(`received ${path} ${String(seen.body.type)}`);
        if (behaviour.kind === 'hang') {
          this.hits.push({ ...seen, status: null });
          response.on('close', () => this.log.push(`closed ${path}`));
          return;
        }
        this.hits.push({ ...seen, status: behaviour.status });
        setTimeout(() => response.writeHead(behaviour.status, { 'content-type': 'text/plain' }).end('ok'), behaviour.delayMs ?? 0);
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  on(path: string, behaviour: Behaviour | ((hit: Omit<Hit, 'status'>) => Behaviour)): void {
    this.behaviours.set(path, behaviour);
  }

  at(path: string): Hit[] {
    return this.hits.filter((hit) => hit.path === path);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/**
 * Signature verification written independently of src/channels/signature.ts, the way a
 * platform would: parse `t` and every `v1`, HMAC-SHA256 of `t + "." + raw body` with the
 * secret as the key, constant-time compare. Returns the secrets (by index) that matched.
 */
export function verifiedBy(header: string | string[] | undefined, rawBody: string, secrets: readonly string[]): number[] {
  if (typeof header !== 'string') return [];
  const parts = header.split(',').map((part) => part.split('='));
  const t = parts.find(([key]) => key === 't')?.[1];
  const v1 = parts.filter(([key]) => key === 'v1').map(([, value]) => Buffer.from(value ?? '', 'hex'));
  if (t === undefined || !/^\d+$/.test(t)) return [];
  const matched: number[] = [];
  secrets.forEach((secret, index) => {
    const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`).digest();
    if (v1.some((sig) => sig.length === expected.length && timingSafeEqual(sig, expected))) matched.push(index);
  });
  return matched;
}

export function signatureParts(header: string | string[] | undefined): { t: number; v1: string[] } {
  expect(typeof header).toBe('string');
  const parts = (header as string).split(',').map((part) => part.split('='));
  return { t: Number(parts.find(([key]) => key === 't')?.[1]), v1: parts.filter(([key]) => key === 'v1').map(([, value]) => value ?? '') };
}

export async function createEndpoint(t: TestApp, apiKey: string, url: string, events: string[] = ['*']): Promise<{ id: string; secret: string; body: Json }> {
  const response = await t.call('POST', '/v1/webhook-endpoints', apiKey, { url, events });
  expect(response.statusCode, response.body).toBe(201);
  const body = json(response);
  return { id: body.id as string, secret: body.secret as string, body };
}

/** Sequences per object in arrival order strictly increase. */
export function expectPerObjectOrder(hits: readonly Hit[]): void {
  const last = new Map<string, number>();
  for (const hit of hits.filter((h) => h.status !== null && h.status < 300)) {
    const object = (hit.body.data as { object: Json }).object;
    const id = object.id as string;
    const sequence = hit.body.sequence as number;
    const before = last.get(id);
    if (before !== undefined) expect(sequence, `${id} after ${before}`).toBeGreaterThan(before);
    last.set(id, sequence);
  }
}

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/http/app.js';
import type { AppOptions } from '../../src/http/app.js';
import { createRuntime } from '../../src/runtime.js';
import type { Runtime, RuntimeConfig } from '../../src/runtime.js';
import type { AdapterName } from '../../src/storage/open-store.js';
import { databaseUrl, useSharedTemplate } from './adapters.js';

export const adminToken = 'cot_test_admin_token_0123456789';

export interface TestApp {
  readonly app: FastifyInstance;
  readonly runtime: Runtime;
  /** Calls the API as `token` (an API key or operator token). */
  call(method: string, url: string, token: string | null, body?: unknown, headers?: Record<string, string>): Promise<LightMyRequestResponse>;
  dispose(): Promise<void>;
}

/** A Custos app on a fresh database: PGlite in memory, or a new PostgreSQL schema. */
export async function openTestApp(
  adapter: AdapterName,
  config: Partial<RuntimeConfig> = {},
  options: AppOptions = {},
): Promise<TestApp> {
  const schema = adapter === 'postgres' ? `test_${randomBytes(6).toString('hex')}` : undefined;
  if (adapter === 'postgres' && !databaseUrl) throw new Error('the postgres adapter needs DATABASE_URL');
  if (adapter === 'pglite') await useSharedTemplate();
  const runtime = await createRuntime({
    sandbox: true,
    adminToken,
    encryptionKey: randomBytes(32).toString('hex'),
    databaseUrl: adapter === 'postgres' ? databaseUrl : undefined,
    schema,
    // Quiet unless a test listens: the suite's output is for test results.
    log: pino({ level: 'silent' }),
    ...config,
  });
  const app = await buildApp(runtime, { logger: false, ...options });
  return {
    app,
    runtime,
    call: (method, url, token, body, headers = {}) =>
      app.inject({
        method: method as 'GET',
        url,
        headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...headers },
        ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
      }),
    async dispose() {
      await app.close();
      await runtime.close();
      if (schema !== undefined) {
        const client = new pg.Client({ connectionString: databaseUrl });
        await client.connect();
        await client.query(`drop schema ${schema} cascade`);
        await client.end();
      }
    },
  };
}

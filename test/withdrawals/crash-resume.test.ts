import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimServer } from '../../src/channels/sim-server.js';
import { payoutSimService } from '../../src/channels/payout/payout-sim-service.js';
import { PayoutSimulator } from '../../src/channels/payout/payout-simulator.js';
import { systemClock } from '../../src/clock.js';
import { ADAPTERS, databaseUrl } from '../support/adapters.js';

const run = promisify(execFile);

/**
 * Kill Custos at each step of a withdrawal and start it again: the withdrawal resumes, the
 * money leaves exactly once, and the books balance. The payout rail runs in this process, so
 * it outlives every Custos process, as a bank's rail outlives a crash of ours.
 */
for (const adapter of ADAPTERS) {
  describe(`a withdrawal survives a crash at every step (${adapter})`, () => {
    const secret = randomBytes(16).toString('hex');
    const key = randomBytes(32).toString('hex');
    let rail: PayoutSimulator;
    let server: Awaited<ReturnType<typeof startSimServer>>;
    const cleanups: (() => Promise<void>)[] = [];

    beforeAll(async () => {
      rail = new PayoutSimulator({ clock: systemClock, seed: 5, decisionDelayMs: { min: 50, max: 200 } });
      server = await startSimServer({ port: 0, secret, services: [payoutSimService(rail)] });
    });
    afterAll(async () => {
      await server.close();
      for (const cleanup of cleanups) await cleanup();
    });

    async function database(): Promise<{ databaseUrl: string; schema: string; dataDir: string }> {
      if (adapter === 'postgres') {
        const schema = `test_${randomBytes(6).toString('hex')}`;
        cleanups.push(async () => {
          const client = new pg.Client({ connectionString: databaseUrl });
          await client.connect();
          await client.query(`drop schema if exists ${schema} cascade`);
          await client.end();
        });
        return { databaseUrl: databaseUrl ?? '', schema, dataDir: '' };
      }
      const dataDir = await mkdtemp(join(tmpdir(), 'custos-crash-'));
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
      return { databaseUrl: '', schema: '', dataDir };
    }

    async function custos(mode: 'setup' | 'run', db: { databaseUrl: string; schema: string; dataDir: string }, state: string, crashAt?: string) {
      const args = ['--import', 'tsx', 'test/support/withdrawal-process.ts', mode, server.url, secret, db.databaseUrl, db.schema, db.dataDir, key, state];
      const env = { ...process.env, CUSTOS_TEST_CRASH_AT: crashAt ?? '', LOG_LEVEL: 'silent' };
      try {
        const { stdout } = await run(process.execPath, args, { env, timeout: 90_000 });
        return { crashed: false, output: JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, string> };
      } catch (error) {
        const failure = error as { signal?: string; stderr?: string };
        if (failure.signal === 'SIGKILL') return { crashed: true, output: {} };
        throw new Error(`custos ${mode} failed: ${failure.stderr ?? String(error)}`, { cause: error });
      }
    }

    for (const crashAt of ['before_send', 'after_send']) {
      it(`is paid exactly once after a crash ${crashAt.replace('_', ' ')}`, async () => {
        const db = await database();
        const setup = await custos('setup', db, '');
        expect(setup.output.status).toBe('processing');
        const state = JSON.stringify(setup.output);
        const crashed = await custos('run', db, state, crashAt);
        expect(crashed.crashed).toBe(true);
        const payout = rail.payouts().find((p) => p.payoutId === setup.output.withdrawalId);
        // Before the send the rail has nothing; after it, the rail has the payout but Custos never heard.
        expect(payout === undefined ? 0 : payout.sends).toBe(crashAt === 'before_send' ? 0 : 1);
        const resumed = await custos('run', db, state);
        expect(resumed.crashed).toBe(false);
        expect(resumed.output).toEqual({ status: 'succeeded', step: 'watching', withdrawable: String(300_000 - 120_000), invariants: true });
        const paid = rail.payouts().find((p) => p.payoutId === setup.output.withdrawalId);
        expect(paid?.sends).toBe(1);
        expect(paid?.status).toBe('succeeded');
        expect(rail.paidTwice()).toEqual([]);
      });
    }

    it('resumes a withdrawal reserved by a process that died before any step ran', async () => {
      const db = await database();
      const setup = await custos('setup', db, '');
      // The setup process ended right after reserving: nothing reached the rail.
      expect(rail.payouts().find((p) => p.payoutId === setup.output.withdrawalId)).toBeUndefined();
      const resumed = await custos('run', db, JSON.stringify(setup.output));
      expect(resumed.output.status).toBe('succeeded');
      expect(rail.payouts().filter((p) => p.payoutId === setup.output.withdrawalId).map((p) => p.sends)).toEqual([1]);
    });
  });
}

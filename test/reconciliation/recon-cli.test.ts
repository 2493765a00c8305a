import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { channelStatementHeader } from '../../src/channels/acquiring/acquiring-simulator.js';
import { reconCommand } from '../../src/cli/recon-command.js';
import { ADAPTERS } from '../support/adapters.js';
import { openMember, operatorToken, signPlatform } from '../support/http-fixtures.js';
import type { SignedPlatform } from '../support/http-fixtures.js';
import { recharge } from '../support/money-fixtures.js';
import type { TestApp } from '../support/test-app.js';
import { monday, openReconApp } from './support.js';

/** `custos recon` against a listening app: the file streams as text/csv with a progress bar. */
for (const adapter of ADAPTERS) {
  describe(`custos recon (${adapter})`, () => {
    let t: TestApp;
    let url: string;
    let dir: string;
    let operator: string;
    let viewer: string;
    let platform: SignedPlatform;
    let payin: { channel_txn_id: string; order_no: string };

    beforeAll(async () => {
      ({ t } = await openReconApp(adapter));
      url = await t.app.listen({ port: 0, host: '127.0.0.1' });
      dir = await mkdtemp(join(tmpdir(), 'custos-recon-'));
      operator = (await operatorToken(t, 'operator')).token;
      viewer = (await operatorToken(t, 'viewer')).token;
      platform = await signPlatform(t);
      const member = await openMember(t, platform.apiKey);
      payin = (await recharge(t, platform.apiKey, member.id, 4_200)) as { channel_txn_id: string; order_no: string };
    });
    afterAll(async () => {
      await t?.dispose();
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    });

    async function run(token: string, ...argv: string[]): Promise<{ code: number; out: string; err: string; progress: string }> {
      const out: string[] = [];
      const err: string[] = [];
      const progress: string[] = [];
      const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void out.push(args.join(' ')));
      const error = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void err.push(args.join(' ')));
      const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => progress.push(String(chunk)) > 0);
      vi.stubEnv('CUSTOS_URL', url);
      vi.stubEnv('CUSTOS_TOKEN', token);
      try {
        const code = await reconCommand(argv);
        return { code, out: out.join('\n'), err: err.join('\n'), progress: progress.join('') };
      } finally {
        log.mockRestore();
        error.mockRestore();
        stderr.mockRestore();
        vi.unstubAllEnvs();
      }
    }

    async function file(name: string, text: string): Promise<string> {
      const path = join(dir, name);
      await writeFile(path, text);
      return path;
    }

    it('imports a file, printing progress and the summary, then shows it', async () => {
      const filler = Array.from({ length: 20_000 }, (_, i) => `sim_other_${i},x-${i},${100 + i},succeeded,2024-03-04T02:00:00Z`);
      const path = await file('channel.csv', [channelStatementHeader, `${payin.channel_txn_id},${payin.order_no},4200,succeeded,2024-03-04T02:00:00Z`, ...filler, ''].join('\n'));
      const imported = await run(operator, 'import', path, '--platform', platform.id, '--source', 'channel:sim', '--date', monday);
      expect([imported.code, imported.err]).toEqual([0, '']);
      expect(imported.out).toMatch(/^rec_\w+ {2}channel:sim {2}2024-03-04 {2}completed$/m);
      expect(imported.out).toContain('20,001 lines, 1 matched, 20,000 breaks (long 20000, short 0, amount_mismatch 0, status_mismatch 0)');
      expect(imported.out).toMatch(/long +sim_other_0 +x-0 +100 +-\/succeeded +open/);
      expect(imported.out).toContain('… more breaks: custos recon show');
      expect(imported.progress).toContain('20,002 lines');
      expect(imported.progress).toMatch(/100%/);

      const id = /^(rec_\w+)/m.exec(imported.out)?.[1] as string;
      const shown = await run(viewer, 'show', id);
      expect(shown.code).toBe(0);
      expect(shown.out.split('\n').slice(0, 2).join('\n')).toBe(imported.out.split('\n').slice(0, 2).join('\n'));
      const all = await run(viewer, 'show', id, '--all', '--json');
      expect(all.code).toBe(0);
      expect((JSON.parse(all.out) as { breaks: unknown[] }).breaks).toHaveLength(20_000);
    });

    it('exits 1 with the API error: a bad line, early in a large file, or a role too low', async () => {
      const lines = Array.from({ length: 200_000 }, (_, i) => `sim_more_${i},x-${i},100,succeeded,2024-03-04T02:00:00Z`);
      const path = await file('bad.csv', [channelStatementHeader, 'sim_bad,x,1.5,succeeded,2024-03-04T02:00:00Z', ...lines, ''].join('\n'));
      const refused = await run(operator, 'import', path, '--platform', platform.id, '--source', 'channel:sim', '--date', monday);
      expect(refused.code).toBe(1);
      expect(JSON.parse(refused.err)).toMatchObject({ error: { code: 'invalid_request', param: 'file', message: expect.stringMatching(/^line 2: amount/) } });
      const forbidden = await run(viewer, 'import', path, '--platform', platform.id, '--source', 'channel:sim', '--date', monday);
      expect(forbidden.code).toBe(1);
      expect(JSON.parse(forbidden.err)).toMatchObject({ error: { code: 'forbidden' } });
      const missing = await run(viewer, 'show', 'rec_000000zzzzzzzzzzzzzzzzzzzz');
      expect(JSON.parse(missing.err)).toMatchObject({ error: { code: 'not_found' } });
      expect((await run(operator, 'import', path, '--platform', platform.id)).code).toBe(2);
      expect((await run(operator)).code).toBe(2);
    });
  });
}

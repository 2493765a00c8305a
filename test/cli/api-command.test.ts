import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { apiCommand } from '../../src/cli/api-command.js';
import { ADAPTERS } from '../support/adapters.js';
import { adminToken, openTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

/** The CLI reaches every API operation through the server's own OpenAPI document. */
for (const adapter of ADAPTERS) {
  describe(`custos api (${adapter})`, () => {
    let t: TestApp;
    let url: string;
    beforeAll(async () => {
      t = await openTestApp(adapter);
      url = await t.app.listen({ port: 0, host: '127.0.0.1' });
    });
    afterAll(async () => {
      await t.dispose();
    });

    async function run(token: string | undefined, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
      const out: string[] = [];
      const err: string[] = [];
      const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void out.push(args.join(' ')));
      const error = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void err.push(args.join(' ')));
      vi.stubEnv('CUSTOS_URL', url);
      vi.stubEnv('CUSTOS_TOKEN', token ?? '');
      try {
        const code = await apiCommand(argv);
        return { code, out: out.join('\n'), err: err.join('\n') };
      } finally {
        log.mockRestore();
        error.mockRestore();
        vi.unstubAllEnvs();
      }
    }

    it('lists every operation of the document', async () => {
      const { code, out } = await run(undefined, '--list');
      expect(code).toBe(0);
      for (const operation of ['signPlatform', 'createMember', 'startCardBinding', 'confirmCardBinding', 'advanceClock']) {
        expect(out).toContain(operation);
      }
    });

    it('signs a platform, opens a member with its key and reads it back, typed by the schema', async () => {
      const signed = await run(adminToken, 'signPlatform', '--name', 'CLI shop', '--escrow-mode', 'buyer', '--auto-confirm-seconds', '3600');
      expect(signed.code).toBe(0);
      const platform = JSON.parse(signed.out) as { id: string; api_key: string; escrow_mode: string; auto_confirm_seconds: number };
      expect(platform).toMatchObject({ escrow_mode: 'buyer', auto_confirm_seconds: 3600 });
      const opened = await run(
        platform.api_key,
        'createMember',
        '--json',
        JSON.stringify({ external_id: 'cli-1', name: '李四', type: 'individual', id_number: '11010519491231002X', phone: '13800138000' }),
        '--idempotency-key',
        'cli-open-1',
      );
      expect([opened.code, opened.err]).toEqual([0, '']);
      const member = JSON.parse(opened.out) as { id: string; external_id: string };
      const read = await run(platform.api_key, 'getMember', '--id', member.id);
      expect(JSON.parse(read.out)).toMatchObject({ id: member.id, external_id: 'cli-1' });
      const listed = await run(platform.api_key, 'listMembers', '--external-id', 'cli-1');
      expect((JSON.parse(listed.out) as { data: unknown[] }).data).toHaveLength(1);
    });

    it('exits non-zero with the API error, and refuses fractional or non-numeric integers locally', async () => {
      const refused = await run('ck_test_unknown_key_0000000000', 'listMembers');
      expect(refused.code).toBe(1);
      expect(JSON.parse(refused.err)).toMatchObject({ error: { code: 'unauthenticated' } });
      await expect(run(adminToken, 'advanceClock', '--seconds', '1.5')).rejects.toThrow(/whole number/);
      await expect(run(adminToken, 'getPlatform')).rejects.toThrow(/--id is required/);
    });
  });
}

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandAttemptsMax, CommandDraft, runCommand, StaleRead } from '../../src/custody/command-draft.js';
import { newId } from '../../src/ids.js';
import { ADAPTERS, openTestStore } from '../support/adapters.js';
import type { TestStore } from '../support/adapters.js';
import { accountInput } from '../support/fixtures.js';

/**
 * runCommand decides a command again when two of its reads disagreed (a commit fell between
 * them), and gives up with the error itself when they never agree (the books and the lots
 * truly differ: a bug to see, not a conflict to retry forever).
 */
for (const adapter of ADAPTERS) {
  describe(`runCommand and stale reads (${adapter})`, () => {
    let t: TestStore;
    const platformId = newId();

    beforeAll(async () => {
      t = await openTestStore(adapter);
      await t.store.createAccounts(platformId, [accountInput()]);
    });
    afterAll(async () => {
      await t?.dispose();
    });

    it('decides again after a stale read, and answers from the first consistent decision', async () => {
      let decisions = 0;
      const answer = await runCommand(t.store, platformId, async () => {
        decisions++;
        if (decisions <= 2) throw new StaleRead('the lots and the balance disagree');
        return { draft: new CommandDraft(platformId, Date.now()), done: (result) => `${result.code} after ${decisions}` };
      });
      expect(answer).toBe('ok after 3');
    });

    it('lets the error through when the reads never agree', async () => {
      let decisions = 0;
      const run = runCommand(t.store, platformId, async () => {
        decisions++;
        throw new StaleRead('the lots and the balance disagree');
      });
      await expect(run).rejects.toThrow(StaleRead);
      expect(decisions).toBe(commandAttemptsMax);
    });

    it('does not retry other errors', async () => {
      let decisions = 0;
      const run = runCommand(t.store, platformId, async () => {
        decisions++;
        throw new Error('something else');
      });
      await expect(run).rejects.toThrow('something else');
      expect(decisions).toBe(1);
    });
  });
}

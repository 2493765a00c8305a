import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAPTERS } from '../support/adapters.js';
import { individual, openMember, signPlatform } from '../support/http-fixtures.js';
import type { SignedPlatform } from '../support/http-fixtures.js';
import { openTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

/** Personal data is stored encrypted, yet a member can be found by it: through its keyed hash. */
for (const adapter of ADAPTERS) {
  describe(`finding members by ID number and phone (${adapter})`, () => {
    let t: TestApp;
    let platform: SignedPlatform;
    beforeAll(async () => {
      t = await openTestApp(adapter);
      platform = await signPlatform(t);
    });
    afterAll(async () => {
      await t.dispose();
    });

    it('finds a member by ID number (any spelling of the check character) and by phone (with +86 or spaces)', async () => {
      const input = individual();
      const member = await openMember(t, platform.apiKey, input);
      await openMember(t, platform.apiKey, individual());
      const byId = await t.call('GET', `/v1/members?id_number=${encodeURIComponent(input.id_number.toLowerCase())}`, platform.apiKey);
      expect(byId.json().data.map((m: { id: string }) => m.id)).toEqual([member.id]);
      const spaced = `+86 ${input.phone.slice(0, 3)} ${input.phone.slice(3)}`;
      const byPhone = await t.call('GET', `/v1/members?phone=${encodeURIComponent(spaced)}`, platform.apiKey);
      expect(byPhone.json().data.map((m: { id: string }) => m.id)).toEqual([member.id]);
      const none = await t.call('GET', '/v1/members?phone=13900000000', platform.apiKey);
      expect(none.json()).toEqual({ object: 'list', data: [], has_more: false });
    });

    it("never finds another platform's member", async () => {
      const input = individual();
      await openMember(t, platform.apiKey, input);
      const other = await signPlatform(t);
      const found = await t.call('GET', `/v1/members?id_number=${input.id_number}`, other.apiKey);
      expect(found.json().data).toEqual([]);
    });
  });
}

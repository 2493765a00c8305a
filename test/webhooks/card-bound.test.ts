import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAPTERS } from '../support/adapters.js';
import { bindCard, json, listOf, openMember, signPlatform, startCard } from '../support/http-fixtures.js';
import { openTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

for (const adapter of ADAPTERS) {
  describe(`card.bound events (${adapter})`, () => {
    let t: TestApp;

    beforeAll(async () => {
      t = await openTestApp(adapter);
    });

    afterAll(async () => {
      await t?.dispose();
    });

    it('records card.bound with the binding, once, carrying the card as GET shows it', async () => {
      const platform = await signPlatform(t);
      const key = platform.apiKey;
      const member = await openMember(t, key);
      const card = await bindCard(t, key, member);
      const started = await startCard(t, key, await openMember(t, key), 'four_element');
      const events = listOf(await t.call('GET', '/v1/events?limit=100', key)).data.filter((e) => e.type === 'card.bound');
      expect(events).toHaveLength(1);
      const event = events[0] as Record<string, unknown>;
      expect(event).toMatchObject({ object_id: card.id, sequence: 1 });
      expect(events.some((e) => e.object_id === started.id)).toBe(false);

      const full = await t.call('GET', `/v1/events/${event.id as string}`, key);
      expect(full.statusCode, full.body).toBe(200);
      const shown = json(await t.call('GET', `/v1/members/${member.id}/cards/${card.id}`, key));
      expect((json(full).data as { object: unknown }).object).toEqual(shown);
      expect(shown.status).toBe('bound');

      // Confirming again changes nothing and records nothing.
      const again = await t.call('POST', `/v1/members/${member.id}/cards/${card.id}/confirm`, key, card.answer);
      expect(again.statusCode).toBe(422);
      expect(listOf(await t.call('GET', '/v1/events?limit=100', key)).data.filter((e) => e.type === 'card.bound')).toHaveLength(1);
    });
  });
}

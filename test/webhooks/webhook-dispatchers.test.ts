import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime } from '../../src/runtime.js';
import type { Runtime } from '../../src/runtime.js';
import { newId } from '../../src/ids.js';
import { fromPublicId, toPublicId } from '../../src/public-ids.js';
import { ADAPTERS } from '../support/adapters.js';
import { listOf, openMember, signPlatform } from '../support/http-fixtures.js';
import { startPayin } from '../support/money-fixtures.js';
import { createEndpoint, decidePayins, expectPerObjectOrder, openWebhookApp, Receiver, webhookPartsOn } from './webhook-support.js';
import type { WebhookApp } from './webhook-support.js';

for (const adapter of ADAPTERS) {
  describe(`webhooks: claims, crashes and several dispatchers (${adapter})`, () => {
    let t: WebhookApp;
    let receiver: Receiver;

    beforeAll(async () => {
      t = await openWebhookApp(adapter);
      receiver = await new Receiver().start();
    });

    afterAll(async () => {
      await receiver?.stop();
      await t?.dispose();
    });

    it('a claim left by a crashed dispatcher is taken over once its lease has passed, and delivered once', async () => {
      const platform = await signPlatform(t);
      const member = await openMember(t, platform.apiKey);
      // The payin comes before the endpoint, so fan-out leaves it alone; a redelivery makes
      // the one delivery this test plays with.
      const payin = await startPayin(t, platform.apiKey, { amount: 100, channel: 'sim', member_id: member.id });
      const endpoint = await createEndpoint(t, platform.apiKey, receiver.url('/crash'), ['payin.created']);
      const events = listOf(await t.call('GET', `/v1/payins/${payin.id as string}/events`, platform.apiKey)).data;
      const redelivered = await t.call('POST', `/v1/events/${events[0]?.id as string}/redeliver`, platform.apiKey, {});
      const deliveryId = listOf(redelivered).data[0]?.id as string;

      // A dispatcher claimed it for a minute, then died mid-delivery.
      const leaseUntil = new Date(t.runtime.clock.nowMs() + 60_000);
      await sql`update webhook_deliveries set claimed_by = 'dispatcher:crashed', claimed_until = ${leaseUntil}
        where endpoint_id = ${fromPublicId('webhookEndpoint', endpoint.id)}::uuid`.execute(t.runtime.ledger.kysely);
      expect(await t.dispatcher.runDue()).toMatchObject({ delivered: 0, failed: 0 });
      expect(receiver.at('/crash')).toHaveLength(0);

      await t.advance(61);
      expect(receiver.at('/crash').map((h) => h.headers['custos-delivery-id'])).toEqual([deliveryId]);
      await t.advance(3600);
      expect(receiver.at('/crash')).toHaveLength(1);
      const [delivery] = listOf(await t.call('GET', `/v1/webhook-endpoints/${endpoint.id}/deliveries`, platform.apiKey)).data;
      expect(delivery).toMatchObject({ status: 'succeeded', attempt_count: 1 });
    });

    it('an event that commits after fan-out passed its id (numbered earlier, committed later) is still delivered, once', async () => {
      const platform = await signPlatform(t);
      const endpoint = await createEndpoint(t, platform.apiKey, receiver.url('/late'), ['payin.created']);
      const endpointCreatedMs = t.runtime.clock.nowMs();
      await t.advance(10);
      const member = await openMember(t, platform.apiKey);
      const payin = await startPayin(t, platform.apiKey, { amount: 100, channel: 'sim', member_id: member.id });
      await t.dispatcher.runDue();
      expect(receiver.at('/late')).toHaveLength(1);
      // A command decided 5 s after the endpoint was made, whose transaction commits only now:
      // its event id sorts before the fan-out cursor.
      const [original] = await t.runtime.trades.events(fromPublicId('platform', platform.id) ?? '', fromPublicId('payin', payin.id) ?? '');
      const lateMs = endpointCreatedMs + 5_000;
      const lateId = newId(lateMs);
      await sql`insert into object_events (platform_id, id, version, object_type, object_id, sequence, type, actor, reason, data, created_at)
        values (${original?.platform_id}::uuid, ${lateId}::uuid, 1, 'payin', ${newId(lateMs)}::uuid, 1, 'payin.created', 'test', null,
                ${JSON.stringify(original?.data)}::jsonb, ${new Date(lateMs)})`.execute(t.runtime.ledger.kysely);
      expect(await t.dispatcher.runDue()).toMatchObject({ fannedOut: 1, delivered: 1 });
      expect(receiver.at('/late').map((h) => h.body.id)).toEqual([expect.any(String), toPublicId('event', lateId)]);
      expect(await t.dispatcher.runDue()).toMatchObject({ fannedOut: 0, delivered: 0 });
      expect(listOf(await t.call('GET', `/v1/webhook-endpoints/${endpoint.id}/deliveries`, platform.apiKey)).data).toHaveLength(2);
    });

    it('two dispatchers on one database, running at once, make every attempt exactly once and keep per-object order', async () => {
      const platform = await signPlatform(t);
      // Slow answers, so that the two dispatchers' claims interleave; every third delivery
      // fails its first attempt, so retries are shared out too.
      let n = 0;
      const firstAttemptFails = new Set<string>();
      for (const path of ['/pair-a', '/pair-b', '/pair-c']) {
        receiver.on(path, (hit) => {
          const delivery = String(hit.headers['custos-delivery-id']);
          if (hit.headers['custos-attempt'] === '1' && n++ % 3 === 0) {
            firstAttemptFails.add(delivery);
            return { kind: 'status', status: 500, delayMs: 5 };
          }
          return { kind: 'status', status: 200, delayMs: 5 };
        });
        await createEndpoint(t, platform.apiKey, receiver.url(path));
      }
      const member = await openMember(t, platform.apiKey);
      for (let i = 0; i < 12; i++) await startPayin(t, platform.apiKey, { amount: 100 + i, channel: 'sim', member_id: member.id });
      await decidePayins(t);

      // A second "process": its own runtime on the same PostgreSQL schema; on PGlite (one
      // process) a second dispatcher in this one.
      let other: Runtime | null = null;
      const second =
        adapter === 'postgres'
          ? webhookPartsOn((other = await createRuntime({ ...t.runtime.config })), t.vault).dispatcher
          : t.dispatcherWith({});
      // Both processes' sandbox clocks show the same time (leases and due times compare them).
      other?.sandboxClock?.advance(((t.runtime.sandboxClock?.offset ?? 0) - (other.sandboxClock.offset ?? 0)) / 1000);
      try {
        const runs = await Promise.all([t.dispatcher.runDue(), second.runDue(), t.dispatcher.runDue(), second.runDue()]);
        expect(runs.reduce((sum, run) => sum + run.fannedOut, 0)).toBe(72);
        // Both took a share of the work (or the test would prove nothing about claims).
        expect((runs[0]?.delivered ?? 0) + (runs[2]?.delivered ?? 0)).toBeGreaterThan(0);
        expect((runs[1]?.delivered ?? 0) + (runs[3]?.delivered ?? 0)).toBeGreaterThan(0);
        for (let round = 0; round < 3; round++) {
          // Only these two dispatchers send; the other process's sandbox clock moves with this
          // one (leases compare clock times).
          t.runtime.sandboxClock?.advance(120);
          other?.sandboxClock?.advance(120);
          await Promise.all([t.dispatcher.runDue(), second.runDue()]);
        }
      } finally {
        await other?.close();
      }

      const hits = ['/pair-a', '/pair-b', '/pair-c'].flatMap((path) => receiver.at(path));
      const perAttempt = new Map<string, number>();
      for (const hit of hits) {
        const key = `${String(hit.headers['custos-delivery-id'])}#${String(hit.headers['custos-attempt'])}`;
        perAttempt.set(key, (perAttempt.get(key) ?? 0) + 1);
      }
      expect([...perAttempt.values()].filter((count) => count !== 1)).toEqual([]);
      const deliveries = new Set(hits.map((hit) => String(hit.headers['custos-delivery-id'])));
      // 12 payins × 2 events × 3 endpoints, each delivered, the failed first attempts retried once.
      expect(deliveries.size).toBe(72);
      expect(firstAttemptFails.size).toBeGreaterThan(0);
      expect(hits).toHaveLength(72 + firstAttemptFails.size);
      const succeeded = hits.filter((hit) => hit.status === 200).map((hit) => String(hit.headers['custos-delivery-id']));
      expect(new Set(succeeded).size).toBe(succeeded.length);
      for (const path of ['/pair-a', '/pair-b', '/pair-c']) expectPerObjectOrder(receiver.at(path));
      const { rows } = await sql<{ attempts: string; deliveries: string }>`
        select (select count(*) from webhook_attempts where platform_id = ${fromPublicId('platform', platform.id)}::uuid)::text as attempts,
               (select count(*) from webhook_deliveries where platform_id = ${fromPublicId('platform', platform.id)}::uuid and status = 'succeeded')::text as deliveries`.execute(t.runtime.ledger.kysely);
      expect(rows[0]).toEqual({ attempts: String(hits.length), deliveries: '72' });
    });
  });
}

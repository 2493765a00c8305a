import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAPTERS } from '../support/adapters.js';
import { json, listOf, openMember, operatorToken, signPlatform } from '../support/http-fixtures.js';
import type { Json, SignedPlatform } from '../support/http-fixtures.js';
import { getJson, startPayin } from '../support/money-fixtures.js';
import { createEndpoint, decidePayins, expectPerObjectOrder, openWebhookApp, Receiver, signatureParts, verifiedBy } from './webhook-support.js';
import type { WebhookApp } from './webhook-support.js';

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
}

const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

for (const adapter of ADAPTERS) {
  describe(`webhooks: delivery, signatures, order, retries (${adapter})`, () => {
    let t: WebhookApp;
    let receiver: Receiver;
    let platform: SignedPlatform;
    let key: string;

    beforeAll(async () => {
      t = await openWebhookApp(adapter, { timeoutMs: 1500 });
      receiver = await new Receiver().start();
      platform = await signPlatform(t);
      key = platform.apiKey;
    });

    afterAll(async () => {
      await receiver?.stop();
      await t?.dispose();
    });

    /** A recharge through `sim`, decided: payin.created, then payin.succeeded when the clock moves. */
    async function succeededPayin(apiKey = key): Promise<Json> {
      const member = await openMember(t, apiKey);
      const payin = await startPayin(t, apiKey, { amount: 1_000, channel: 'sim', member_id: member.id });
      await decidePayins(t);
      expect((await getJson(t, apiKey, `/v1/payins/${payin.id as string}`)).status).toBe('succeeded');
      return payin;
    }

    async function deliveriesOf(endpointId: string, apiKey = key): Promise<Json[]> {
      const response = await t.call('GET', `/v1/webhook-endpoints/${endpointId}/deliveries?limit=100`, apiKey);
      expect(response.statusCode, response.body).toBe(200);
      return listOf(response).data;
    }

    it('delivers payin.created then payin.succeeded, signed over the raw body, with increasing sequence and the object as GET shows it', async () => {
      const own = await signPlatform(t);
      const endpoint = await createEndpoint(t, own.apiKey, receiver.url('/all'), ['*']);
      const payin = await succeededPayin(own.apiKey);
      // Both events wait for the same run: the per-object order is the dispatcher's to keep.
      const run = await t.dispatcher.runDue();
      expect(run).toMatchObject({ fannedOut: 2, delivered: 2, failed: 0 });

      const hits = receiver.at('/all');
      expect(hits.map((h) => h.body.type)).toEqual(['payin.created', 'payin.succeeded']);
      const sequences = hits.map((h) => h.body.sequence as number);
      expect(sequences[1]).toBeGreaterThan(sequences[0] ?? Infinity);
      expectPerObjectOrder(hits);
      const nowSeconds = Math.floor(Date.now() / 1000);
      for (const hit of hits) {
        expect(hit.headers['content-type']).toMatch(/^application\/json/);
        expect(verifiedBy(hit.headers['custos-signature'], hit.rawBody, [endpoint.secret])).toEqual([0]);
        // A byte changed in the body and the signature no longer holds.
        expect(verifiedBy(hit.headers['custos-signature'], hit.rawBody.replace('payin', 'payln'), [endpoint.secret])).toEqual([]);
        const { t: signedAt, v1 } = signatureParts(hit.headers['custos-signature']);
        expect(v1).toHaveLength(1);
        // `t` is wall time (the sandbox clock has moved, the signature's time has not).
        expect(Math.abs(signedAt - nowSeconds)).toBeLessThan(60);
        expect(hit.headers['custos-delivery-id']).toMatch(/^whd_[0-9a-z]{26}$/);
        expect(Object.keys(hit.body).sort()).toEqual(['created', 'data', 'id', 'object', 'sequence', 'type']);
        expect(hit.body).toMatchObject({ id: expect.stringMatching(/^evt_[0-9a-z]{26}$/), object: 'event', created: expect.stringMatching(rfc3339) });
        expect((hit.body.data as { object: Json }).object.id).toBe(payin.id);
      }
      // data.object after the last change is exactly what GET answers.
      const last = (hits[1]?.body.data as { object: Json }).object;
      expect(last).toEqual(await getJson(t, own.apiKey, `/v1/payins/${payin.id as string}`));
      expect(last.status).toBe('succeeded');
      expect((hits[0]?.body.data as { object: Json }).object.status).toBe('pending');

      // The same event, read back: GET /v1/events/{id} carries the same object.
      const event = await getJson(t, own.apiKey, `/v1/events/${hits[1]?.body.id as string}`);
      expect(event).toMatchObject({ id: hits[1]?.body.id, type: 'payin.succeeded', object_type: 'payin', object_id: payin.id, sequence: hits[1]?.body.sequence });
      expect((event.data as Json).object).toEqual(last);
      // …and is among the replayable events of GET /v1/events.
      const replay = listOf(await t.call('GET', '/v1/events?limit=100', own.apiKey)).data.map((e) => e.id);
      expect(replay).toEqual(expect.arrayContaining(hits.map((h) => h.body.id)));

      const deliveries = await deliveriesOf(endpoint.id, own.apiKey);
      expect(deliveries.map((d) => [d.event_type, d.status, d.attempt_count])).toEqual([
        ['payin.created', 'succeeded', 1],
        ['payin.succeeded', 'succeeded', 1],
      ]);
      expect((deliveries[0]?.attempts as Json[])[0]).toMatchObject({ attempt: 1, status_code: 200, error: null, latency_ms: expect.any(Number) });
      expect(deliveries.map((d) => d.id)).toEqual(hits.map((h) => h.headers['custos-delivery-id']));

      // Nothing new: nothing is sent again.
      expect(await t.dispatcher.runDue()).toMatchObject({ fannedOut: 0, delivered: 0, failed: 0 });
      expect(receiver.at('/all')).toHaveLength(2);
    });

    it('an endpoint subscribed to one type receives only that type; events from before it existed are not sent', async () => {
      const own = await signPlatform(t);
      await succeededPayin(own.apiKey);
      const only = await createEndpoint(t, own.apiKey, receiver.url('/only-succeeded'), ['payin.succeeded']);
      const all = await createEndpoint(t, own.apiKey, receiver.url('/everything'), ['*']);
      const payin = await succeededPayin(own.apiKey);
      await t.dispatcher.runDue();
      expect(receiver.at('/only-succeeded').map((h) => [h.body.type, (h.body.data as { object: Json }).object.id])).toEqual([['payin.succeeded', payin.id]]);
      expect(receiver.at('/everything').map((h) => h.body.type)).toEqual(['payin.created', 'payin.succeeded']);
      expect(verifiedBy(receiver.at('/only-succeeded')[0]?.headers['custos-signature'], receiver.at('/only-succeeded')[0]?.rawBody ?? '', [all.secret, only.secret])).toEqual([1]);
    });

    it('non-2xx is retried about 1 min, 5 min, 30 min … later on the sandbox clock, every attempt recorded; after 3 days the delivery fails and the endpoint is failing, until a success', async () => {
      const own = await signPlatform(t);
      const viewer = await operatorToken(t, 'viewer');
      receiver.on('/down', { kind: 'status', status: 503 });
      const endpoint = await createEndpoint(t, own.apiKey, receiver.url('/down'), ['payin.created']);
      const member = await openMember(t, own.apiKey);
      await startPayin(t, own.apiKey, { amount: 500, channel: 'sim', member_id: member.id });
      expect(await t.dispatcher.runDue()).toMatchObject({ fannedOut: 1, delivered: 0, failed: 1 });
      expect(receiver.at('/down')).toHaveLength(1);

      // ~1 min (± 10 %): not at 50 s, by 70 s.
      await t.advance(50);
      expect(receiver.at('/down')).toHaveLength(1);
      await t.advance(20);
      expect(receiver.at('/down')).toHaveLength(2);
      // ~5 min after that: not at 250 s, by 350 s.
      await t.advance(250);
      expect(receiver.at('/down')).toHaveLength(2);
      await t.advance(100);
      expect(receiver.at('/down')).toHaveLength(3);
      // ~30 min: not at 25 min, by 35 min.
      await t.advance(25 * 60);
      expect(receiver.at('/down')).toHaveLength(3);
      await t.advance(10 * 60);
      expect(receiver.at('/down')).toHaveLength(4);

      let [delivery] = await deliveriesOf(endpoint.id, own.apiKey);
      expect(delivery).toMatchObject({ status: 'pending', attempt_count: 4, last_status_code: 503, last_error: 'http_503' });
      const attempts = delivery?.attempts as Json[];
      expect(attempts.map((a) => [a.attempt, a.status_code])).toEqual([[1, 503], [2, 503], [3, 503], [4, 503]]);
      const at = attempts.map((a) => Date.parse(a.attempted_at as string));
      const gaps = at.slice(1).map((ms, i) => (ms - (at[i] ?? 0)) / 1000);
      expect(gaps[0]).toBeGreaterThanOrEqual(54);
      expect(gaps[1]).toBeGreaterThanOrEqual(270);
      expect(gaps[2]).toBeGreaterThanOrEqual(1620);
      // Still retrying: not failing yet.
      expect(json(await t.call('GET', `/v1/webhook-endpoints/${endpoint.id}`, own.apiKey)).status).toBe('active');

      // Three days from the first attempt, in 6-hour steps: it gives up, exactly once.
      for (let hours = 0; hours < 78; hours += 6) await t.advance(6 * 3600);
      [delivery] = await deliveriesOf(endpoint.id, own.apiKey);
      expect(delivery).toMatchObject({ status: 'failed', next_attempt_at: null, last_error: 'http_503' });
      const all = (delivery?.attempts as Json[]).map((a) => Date.parse(a.attempted_at as string));
      const first = all[0] ?? 0;
      const lastAttempt = all.at(-1) ?? 0;
      // The last attempt falls due at the 3-day mark and runs at the first run after it
      // (this test moves the clock 6 hours at a time); the one before it came within 3 days.
      expect(lastAttempt - first).toBeGreaterThanOrEqual(3 * 86_400_000);
      expect(lastAttempt - first).toBeLessThanOrEqual(3 * 86_400_000 + 6 * 3_600_000);
      expect((all.at(-2) ?? 0) - first).toBeLessThan(3 * 86_400_000);
      expect(receiver.at('/down')).toHaveLength(all.length);
      expect(all.length).toBeGreaterThanOrEqual(9);
      const failing = json(await t.call('GET', `/v1/webhook-endpoints/${endpoint.id}`, own.apiKey));
      expect(failing).toMatchObject({ status: 'failing', failing_since: expect.stringMatching(rfc3339) });
      // Operators see it among the failing endpoints of every platform.
      const seen = listOf(await t.call('GET', '/v1/ops/webhook-endpoints?status=failing&limit=100', viewer.token)).data;
      expect(seen.find((e) => e.id === endpoint.id)).toMatchObject({ platform_id: own.id, status: 'failing', url: receiver.url('/down') });
      expect((await t.call('GET', '/v1/ops/webhook-endpoints', own.apiKey)).statusCode).toBe(403);

      // A later success makes it active again.
      receiver.on('/down', { kind: 'status', status: 204 });
      await startPayin(t, own.apiKey, { amount: 600, channel: 'sim', member_id: member.id });
      expect(await t.dispatcher.runDue()).toMatchObject({ delivered: 1 });
      expect(json(await t.call('GET', `/v1/webhook-endpoints/${endpoint.id}`, own.apiKey))).toMatchObject({ status: 'active', failing_since: null });
      expect(listOf(await t.call('GET', '/v1/ops/webhook-endpoints?status=failing&limit=100', viewer.token)).data.map((e) => e.id)).not.toContain(endpoint.id);
    });

    it('a receiver that hangs does not hold back another endpoint: its deliveries arrive before the hung one is cut off', async () => {
      const own = await signPlatform(t);
      receiver.on('/hang', { kind: 'hang' });
      const hanging = await createEndpoint(t, own.apiKey, receiver.url('/hang'));
      await createEndpoint(t, own.apiKey, receiver.url('/quick'));
      receiver.log.length = 0;
      await succeededPayin(own.apiKey);
      const run = await t.dispatcher.runDue();
      expect(run).toMatchObject({ fannedOut: 4, delivered: 2, failed: 1 });
      // The receiver hears of the cut-off a moment after the sender gave up.
      await waitFor(() => receiver.log.includes('closed /hang'));
      const log = receiver.log.filter((line) => line.includes('/hang') || line.includes('/quick'));
      // Both of /quick's deliveries (created, then succeeded) came before /hang was cut off.
      expect(log.indexOf('closed /hang')).toBeGreaterThan(log.lastIndexOf('received /quick payin.succeeded'));
      expect(log.indexOf('received /quick payin.created')).toBeGreaterThanOrEqual(0);
      const [first, second] = await deliveriesOf(hanging.id, own.apiKey);
      expect(first).toMatchObject({ event_type: 'payin.created', status: 'pending', attempt_count: 1, last_status_code: null, last_error: expect.stringMatching(/^timeout/) });
      // The object's next update waits behind the one still pending.
      expect(second).toMatchObject({ event_type: 'payin.succeeded', status: 'pending', attempt_count: 0 });
      receiver.on('/hang', { kind: 'status', status: 200 });
      await t.advance(120);
      expect(receiver.at('/hang').filter((h) => h.status === 200).map((h) => h.body.type)).toEqual(['payin.created', 'payin.succeeded']);
      expectPerObjectOrder(receiver.at('/hang'));
    });

    it('rotating the secret: during the overlap each delivery carries two v1 signatures and both verify; afterwards only the new one', async () => {
      const own = await signPlatform(t);
      const endpoint = await createEndpoint(t, own.apiKey, receiver.url('/rotating'), ['payin.created']);
      const rotated = await t.call('POST', `/v1/webhook-endpoints/${endpoint.id}/rotate-secret`, own.apiKey, { overlap_seconds: 3600 });
      expect(rotated.statusCode, rotated.body).toBe(200);
      const fresh = json(rotated);
      expect(fresh.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
      expect(fresh.secret).not.toBe(endpoint.secret);
      expect(fresh.previous_secret_expires_at).toMatch(rfc3339);
      const member = await openMember(t, own.apiKey);
      await startPayin(t, own.apiKey, { amount: 700, channel: 'sim', member_id: member.id });
      await t.dispatcher.runDue();
      const during = receiver.at('/rotating').at(-1);
      expect(signatureParts(during?.headers['custos-signature']).v1).toHaveLength(2);
      expect(verifiedBy(during?.headers['custos-signature'], during?.rawBody ?? '', [fresh.secret as string, endpoint.secret])).toEqual([0, 1]);

      await t.advance(3601);
      expect(json(await t.call('GET', `/v1/webhook-endpoints/${endpoint.id}`, own.apiKey)).previous_secret_expires_at).toBeNull();
      await startPayin(t, own.apiKey, { amount: 800, channel: 'sim', member_id: member.id });
      await t.dispatcher.runDue();
      const after = receiver.at('/rotating').at(-1);
      expect(signatureParts(after?.headers['custos-signature']).v1).toHaveLength(1);
      expect(verifiedBy(after?.headers['custos-signature'], after?.rawBody ?? '', [fresh.secret as string, endpoint.secret])).toEqual([0]);

      // No overlap: the old secret stops signing at once.
      const immediate = json(await t.call('POST', `/v1/webhook-endpoints/${endpoint.id}/rotate-secret`, own.apiKey, { overlap_seconds: 0 }));
      expect(immediate.previous_secret_expires_at).toBeNull();
      await startPayin(t, own.apiKey, { amount: 900, channel: 'sim', member_id: member.id });
      await t.dispatcher.runDue();
      const last = receiver.at('/rotating').at(-1);
      expect(verifiedBy(last?.headers['custos-signature'], last?.rawBody ?? '', [immediate.secret as string, fresh.secret as string])).toEqual([0]);
      // The body is optional: the default overlap is a day.
      const byDefault = await t.call('POST', `/v1/webhook-endpoints/${endpoint.id}/rotate-secret`, own.apiKey);
      expect(byDefault.statusCode, byDefault.body).toBe(200);
      const expires = Date.parse(json(byDefault).previous_secret_expires_at as string) - Date.parse(json(byDefault).updated as string);
      expect(expires).toBe(24 * 3600 * 1000);
    });

    it('redelivers an event as a new delivery, to every subscribed endpoint or to one', async () => {
      const own = await signPlatform(t);
      const first = await createEndpoint(t, own.apiKey, receiver.url('/redeliver-a'), ['payin.created']);
      await createEndpoint(t, own.apiKey, receiver.url('/redeliver-b'), ['*']);
      const member = await openMember(t, own.apiKey);
      await startPayin(t, own.apiKey, { amount: 300, channel: 'sim', member_id: member.id });
      await t.dispatcher.runDue();
      const original = receiver.at('/redeliver-a')[0];
      const eventId = original?.body.id as string;

      const toAll = await t.call('POST', `/v1/events/${eventId}/redeliver`, own.apiKey, {});
      expect(toAll.statusCode, toAll.body).toBe(201);
      expect(listOf(toAll).data.map((d) => [d.event_id, d.redelivery, d.status])).toEqual([
        [eventId, 1, 'pending'],
        [eventId, 1, 'pending'],
      ]);
      const toOne = await t.call('POST', `/v1/events/${eventId}/redeliver`, own.apiKey, { endpoint_id: first.id });
      expect(listOf(toOne).data.map((d) => [d.endpoint_id, d.redelivery])).toEqual([[first.id, 2]]);
      await t.dispatcher.runDue();
      const again = receiver.at('/redeliver-a');
      expect(again.map((h) => h.body.id)).toEqual([eventId, eventId, eventId]);
      expect(new Set(again.map((h) => h.headers['custos-delivery-id'])).size).toBe(3);
      // The same event is the same bytes but for nothing: only the signature's time may differ.
      expect(again[1]?.rawBody).toBe(original?.rawBody);
      expect(verifiedBy(again[2]?.headers['custos-signature'], again[2]?.rawBody ?? '', [first.secret])).toEqual([0]);
      expect((await deliveriesOf(first.id, own.apiKey)).map((d) => [d.redelivery, d.status])).toEqual([
        [0, 'succeeded'],
        [1, 'succeeded'],
        [2, 'succeeded'],
      ]);

      // Another platform's event is not found; an event of no endpoint is redelivered to none.
      const other = await signPlatform(t);
      expect((await t.call('POST', `/v1/events/${eventId}/redeliver`, other.apiKey, {})).statusCode).toBe(404);
      expect((await t.call('GET', `/v1/events/${eventId}`, other.apiKey)).statusCode).toBe(404);
      // A disabled endpoint takes no redelivery, and nothing pending is left for it.
      const disabled = await t.call('POST', `/v1/webhook-endpoints/${first.id}/disable`, own.apiKey);
      expect(json(disabled).status).toBe('disabled');
      expect((await t.call('POST', `/v1/events/${eventId}/redeliver`, own.apiKey, { endpoint_id: first.id })).statusCode).toBe(409);
    });

    it('a disabled endpoint receives nothing more, and what was pending for it ends', async () => {
      const own = await signPlatform(t);
      receiver.on('/disabled', { kind: 'status', status: 500 });
      const endpoint = await createEndpoint(t, own.apiKey, receiver.url('/disabled'), ['payin.created']);
      const member = await openMember(t, own.apiKey);
      await startPayin(t, own.apiKey, { amount: 100, channel: 'sim', member_id: member.id });
      await t.dispatcher.runDue();
      expect(receiver.at('/disabled')).toHaveLength(1);
      expect(json(await t.call('POST', `/v1/webhook-endpoints/${endpoint.id}/disable`, own.apiKey)).status).toBe('disabled');
      await startPayin(t, own.apiKey, { amount: 100, channel: 'sim', member_id: member.id });
      await t.advance(3600);
      expect(receiver.at('/disabled')).toHaveLength(1);
      expect((await deliveriesOf(endpoint.id, own.apiKey)).map((d) => [d.status, d.last_error])).toEqual([['failed', 'endpoint_disabled']]);
    });
  });
}

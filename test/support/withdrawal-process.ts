/**
 * A Custos process for the crash-and-resume tests. `setup` opens a platform, a funded
 * member with a bound card, and reserves a withdrawal; `run` drives due payout steps until
 * the withdrawal is final. With CUSTOS_TEST_CRASH_AT set, the process kills itself at that
 * step (src/custody/payout-processor.ts), as a power cut would. Prints one JSON line.
 */
import { createRuntime } from '../../src/runtime.js';
import { cardEndingIn, individual } from './http-fixtures.js';

const [mode, payoutUrl, secret, databaseUrl, schema, dataDir, encryptionKey, stateJson] = process.argv.slice(2);
if (!mode || !payoutUrl || !secret || !encryptionKey) throw new Error('usage: withdrawal-process MODE PAYOUT_URL SECRET DB SCHEMA DATA_DIR KEY [STATE]');

const runtime = await createRuntime({
  sandbox: true,
  databaseUrl: databaseUrl || undefined,
  schema: schema || undefined,
  dataDir: dataDir || undefined,
  encryptionKey,
  adminToken: 'cot_crash_test_admin_token_01',
  payout: { url: payoutUrl, secret },
  log: { warn: () => undefined },
});

function person() {
  const input = individual();
  return { externalId: input.external_id, name: input.name, type: input.type, idNumber: input.id_number, phone: input.phone };
}

async function setup(): Promise<Record<string, string>> {
  const { platform } = await runtime.platforms.sign({ name: 'Crash test' });
  const member = await runtime.members.open(platform.id, person());
  const started = await runtime.cards.start(platform.id, member.id, { method: 'small_amount', cardNumber: cardEndingIn('1234') });
  await runtime.cards.confirm(platform.id, member.id, started.id, { amountMinor: started.sandbox?.amountMinor });
  const buyer = await runtime.members.open(platform.id, person());
  const record = await runtime.members.record(platform.id, buyer.id);
  await runtime.suspense.recordBankCredit(platform.id, { amountMinor: 500_000n, payerAccount: '6222000011112222', payerName: 'Payer', memo: record.subAccountNo }, 'test');
  await runtime.orders.create(platform.id, { orderNo: 'ORD-1', buyerId: buyer.id, mode: 'direct_t0', payees: [{ memberId: member.id, amountMinor: 300_000n }] }, 'test');
  const withdrawal = await runtime.withdrawals.create(platform.id, { orderNo: 'WDR-1', memberId: member.id, cardId: started.id, amountMinor: 120_000n }, 'test');
  return { platformId: platform.id, memberId: member.id, withdrawalId: withdrawal.id, status: withdrawal.status };
}

async function run(state: { platformId: string; withdrawalId: string; memberId: string }): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    await runtime.payouts.runDue();
    const withdrawal = await runtime.withdrawals.get(state.platformId, state.withdrawalId);
    if (['succeeded', 'failed', 'returned'].includes(withdrawal.status) || Date.now() > deadline) {
      const member = await runtime.members.record(state.platformId, state.memberId);
      const balances = await runtime.members.balances(member);
      const invariants = await runtime.invariants.check(state.platformId);
      return { status: withdrawal.status, step: withdrawal.step, withdrawable: balances.withdrawableMinor.toString(), invariants: invariants.ok };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const output = mode === 'setup' ? await setup() : await run(JSON.parse(stateJson ?? '{}') as { platformId: string; withdrawalId: string; memberId: string });
process.stdout.write(`${JSON.stringify(output)}\n`);
await runtime.close();

import { parseArgs } from 'node:util';
import type { CallbackSink } from '../channels/acquiring/acquiring-channel.js';
import { acquiringSimService, httpCallbackSink } from '../channels/acquiring/acquiring-sim-service.js';
import { AcquiringSimulator } from '../channels/acquiring/acquiring-simulator.js';
import { identitySimService } from '../channels/identity/identity-sim-service.js';
import { IdentitySimulator, identitySimulatorDefaults } from '../channels/identity/identity-simulator.js';
import { payoutSimService } from '../channels/payout/payout-sim-service.js';
import { PayoutSimulator } from '../channels/payout/payout-simulator.js';
import type { SimService } from '../channels/sim-server.js';
import { startSimServer } from '../channels/sim-server.js';
import { systemClock } from '../clock.js';

export const simCommandDefaults = { host: '127.0.0.1', port: 8090 } as const;

const help = `custos sim [options]          run the channel simulators over signed HTTP

  --port N        port, 0 for any free one                [${simCommandDefaults.port}]
  --host H        interface                               [${simCommandDefaults.host}]
  --secret S      request and response signing secret     [env CUSTOS_SIM_SECRET]
  --seed N        simulator seed                          [${identitySimulatorDefaults.seed}]
  --callback-url U  acquiring callbacks are POSTed there as JSON, signed with the
                  secret in the Custos-Signature header; without it each is dropped
                  with a log line, and results are found by query

Services: identity (/identity/four-elements, /identity/sms, /identity/micro-deposits,
/identity/inspect/sms, /identity/inspect/calls); acquiring, channels sim and sim_fail
(/acquiring/payments, /acquiring/payments/query, /acquiring/statement, /acquiring/deliver),
deciding payments by the system clock; payout, the bank's payout rail with the sandbox
magic cards (/payout/payouts, /payout/payouts/query, /payout/rails/open,
/payout/statement), deciding payouts by the system clock and keeping the high-value
rail's hours in Asia/Shanghai. Stops on SIGINT or SIGTERM.`;

/**
 * Every simulated provider the server carries; the server itself knows nothing about any of
 * them. The acquiring simulator is passed in because its owner runs its delivery timer and
 * chooses where its callbacks go. The payout simulator is passed in so its owner can inspect
 * it (`payouts()`, `paidTwice()`); without one the server carries no payout service.
 */
export function simServices(seed: number, acquiring: AcquiringSimulator, payout?: PayoutSimulator): SimService[] {
  const services = [identitySimService(new IdentitySimulator({ seed })), acquiringSimService(acquiring)];
  return payout === undefined ? services : [...services, payoutSimService(payout)];
}

/**
 * Without a callback URL there is nowhere to deliver to. Keeping callbacks would only fill
 * the outbox until it drops them anyway, so they are dropped at once, each with a log line,
 * and a client finds results with `/acquiring/payments/query` as it must for lost callbacks.
 */
function callbackSink(callbackUrl: string | undefined): CallbackSink {
  if (callbackUrl !== undefined) return httpCallbackSink(callbackUrl);
  return async (callback) => {
    console.log(`custos sim: no --callback-url, dropped a ${callback.channel} callback ${callback.body}`);
  };
}

function integer(value: string | undefined, fallback: number, name: string, min: number, max: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < min || number > max) throw new Error(`--${name} must be an integer in ${min}..${max}`);
  return number;
}

export async function simCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      secret: { type: 'string' },
      seed: { type: 'string' },
      'callback-url': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(help);
    return 0;
  }
  const secret = values.secret ?? process.env.CUSTOS_SIM_SECRET;
  if (secret === undefined || secret.length === 0) {
    console.error(`custos sim: give a signing secret with --secret or CUSTOS_SIM_SECRET\n\n${help}`);
    return 2;
  }
  const port = integer(values.port, simCommandDefaults.port, 'port', 0, 65_535);
  const seed = integer(values.seed, identitySimulatorDefaults.seed, 'seed', 0, 2 ** 32 - 1);
  const callbackUrl = values['callback-url'];
  const acquiring = new AcquiringSimulator({ seed, clock: systemClock, secret, sink: callbackSink(callbackUrl) });
  // Payouts need no timer: they are decided by the system clock whenever they are asked about.
  const payout = new PayoutSimulator({ seed, clock: systemClock });
  const services = simServices(seed, acquiring, payout);
  const server = await startSimServer({ host: values.host ?? simCommandDefaults.host, port, secret, services });
  acquiring.start();
  console.log(`custos sim listening on ${server.url} (seed ${seed}, callbacks ${callbackUrl ?? 'dropped'})`);
  const signal = await stopSignal();
  console.log(`custos sim: ${signal}, closing`);
  acquiring.stop();
  await server.close();
  return 0;
}

/** Resolves with the first of SIGINT and SIGTERM, then stops listening for both. */
function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

import { parseArgs } from 'node:util';
import { buildApp } from '../http/app.js';
import { parseReserveSchedule } from '../custody/reserve-rules.js';
import { createRuntime } from '../runtime.js';

const help = `custos serve [--port 8080] [--host 127.0.0.1] [--sandbox] [--data ./data]

  PORT, CUSTOS_DATA_DIR         same as --port and --data
  DATABASE_URL                  PostgreSQL instead of the embedded database in --data
  CUSTOS_ADMIN_TOKEN            an admin operator's token (otherwise one is generated once)
  CUSTOS_ENCRYPTION_KEY         64 hex characters; embedded mode keeps one in --data
  CUSTOS_IDENTITY_URL/_SECRET   identity-verification provider (required without --sandbox)
  CUSTOS_ACQUIRING_URL/_SECRET  acquiring channels over signed HTTP (a custos sim server), with
  CUSTOS_ACQUIRING_CHANNELS     their names, comma-separated (sim,sim_fail)
  CUSTOS_PAYOUT_URL/_SECRET     the payout rail over signed HTTP (required without --sandbox)
  CUSTOS_EOD_CUTOFF             when the previous day closes by itself, HH:MM platform time (00:30)
  CUSTOS_RESERVE_SCHEDULE       reserve-fund ratios, DATE:BPS,… (2017-04-17:2000,2018-04-16:5000,2019-01-14:10000)
  LOG_LEVEL                     pino level (info)`;

function acquiringConfig() {
  const url = process.env.CUSTOS_ACQUIRING_URL;
  const secret = process.env.CUSTOS_ACQUIRING_SECRET;
  if (!url || !secret) return undefined;
  const channels = (process.env.CUSTOS_ACQUIRING_CHANNELS ?? 'sim,sim_fail').split(',').map((c) => c.trim()).filter((c) => c.length > 0);
  return { url, secret, channels };
}

/** `HH:MM` as minutes after midnight. */
function cutoffMinutes(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text);
  if (match === null) throw new Error('CUSTOS_EOD_CUTOFF is HH:MM, e.g. 00:30');
  return Number(match[1]) * 60 + Number(match[2]);
}

/** Sweeps for due work (expired holds; later auto-confirms and more) this often. */
const dueJobsIntervalMs = { sandbox: 1000, live: 5000 };

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      sandbox: { type: 'boolean' },
      data: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(help);
    return 0;
  }
  const port = Number(values.port ?? process.env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('--port must be 0..65535');
  const host = values.host ?? '127.0.0.1';
  const sandbox = values.sandbox ?? false;
  const databaseUrl = process.env.DATABASE_URL || undefined;
  const dataDir = values.data ?? process.env.CUSTOS_DATA_DIR ?? './data';
  const identityUrl = process.env.CUSTOS_IDENTITY_URL;
  const identitySecret = process.env.CUSTOS_IDENTITY_SECRET;
  const runtime = await createRuntime({
    sandbox,
    databaseUrl,
    dataDir: databaseUrl === undefined ? dataDir : undefined,
    adminToken: process.env.CUSTOS_ADMIN_TOKEN || undefined,
    encryptionKey: process.env.CUSTOS_ENCRYPTION_KEY || undefined,
    identity: identityUrl && identitySecret ? { url: identityUrl, secret: identitySecret } : undefined,
    acquiring: acquiringConfig(),
    payout:
      process.env.CUSTOS_PAYOUT_URL && process.env.CUSTOS_PAYOUT_SECRET
        ? { url: process.env.CUSTOS_PAYOUT_URL, secret: process.env.CUSTOS_PAYOUT_SECRET }
        : undefined,
    eodCutoffMinutes: cutoffMinutes(process.env.CUSTOS_EOD_CUTOFF),
    reserveSchedule: process.env.CUSTOS_RESERVE_SCHEDULE ? parseReserveSchedule(process.env.CUSTOS_RESERVE_SCHEDULE) : undefined,
  });
  const app = await buildApp(runtime);
  const address = await app.listen({ port, host });
  console.log(`Custos listening on ${address} (${sandbox ? 'sandbox' : 'live'}, ${databaseUrl ? 'PostgreSQL' : `PGlite in ${dataDir}`})`);
  if (runtime.encryptionKeySource === 'generated') console.log(`a new encryption key was written to ${dataDir}/encryption.key: back it up`);
  if (runtime.generatedAdminToken !== null) {
    console.log(`\nadmin token (shown once, keep it safe): ${runtime.generatedAdminToken}\n`);
  }
  let sweeping = false;
  const timer = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    runtime
      .runDueJobs()
      .catch((error: unknown) => app.log.error({ err: error }, 'due jobs failed'))
      .finally(() => (sweeping = false));
  }, sandbox ? dueJobsIntervalMs.sandbox : dueJobsIntervalMs.live);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      app.log.info({ signal }, 'shutting down: draining requests, then the ledger');
      clearInterval(timer);
      void (async () => {
        await app.close();
        await runtime.close();
        resolve();
      })();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

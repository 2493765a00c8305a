import { parseArgs } from 'node:util';
import { isValidId } from '../ledger/index.js';
import { openStore } from '../storage/open-store.js';

/** `custos migrate` and `custos verify`: maintenance on the configured database. */
export async function storeCommand(command: 'migrate' | 'verify', argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { data: { type: 'string' }, platform: { type: 'string' } },
  });
  const databaseUrl = process.env.DATABASE_URL;
  const dataDir = values.data ?? process.env.CUSTOS_DATA_DIR ?? './data';
  const store = await openStore({ databaseUrl, dataDir });
  try {
    if (command === 'migrate') {
      console.log(`database is migrated (${databaseUrl ? 'PostgreSQL' : `PGlite in ${dataDir}`})`);
      return 0;
    }
    const platformId = values.platform;
    if (!isValidId(platformId)) {
      console.error('custos verify --platform <book id (uuid)>');
      return 2;
    }
    const check = await store.verifyChain(platformId);
    if (check.ok) {
      console.log(`hash chain intact: ${check.seq} entries, head ${check.hash}`);
      return 0;
    }
    console.error(`hash chain BROKEN at entry ${check.brokenAtSeq}: ${check.reason}`);
    return 1;
  } finally {
    await store.close();
  }
}

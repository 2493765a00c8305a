import { assertLimits } from '../limits.js';
import { benchCommand } from './bench-command.js';

const usage = `custos: fund custody for online marketplaces

usage:
  custos serve [--sandbox] [--port N] [--host H] [--data DIR]   run the HTTP API (see --help)
  custos sim [--port N] --secret S      run the channel simulators as their own HTTP server
  custos api <operation> [--field v]   call any API operation (custos api --list); CUSTOS_URL, CUSTOS_TOKEN
  custos demo [--data DIR]             run a ledger demo on the embedded database
  custos bench ledger [options]        measure the ledger (see --help)
  custos recon import FILE --platform plt_… --source bank|channel:<name> --date D   import a statement (progress)
  custos migrate                       apply database migrations (DATABASE_URL or --data)
  custos verify --platform ID          walk a book's hash chain
  custos docs errors                   regenerate docs/errors.md from the error catalog

environment: DATABASE_URL selects PostgreSQL; otherwise PGlite in --data (./data).`;

export async function main(argv: string[]): Promise<number> {
  assertLimits();
  const [command, ...rest] = argv;
  switch (command) {
    case 'bench':
      return benchCommand(rest);
    case 'serve': {
      const { serveCommand } = await import('./serve-command.js');
      return serveCommand(rest);
    }
    case 'recon': {
      const { reconCommand } = await import('./recon-command.js');
      return reconCommand(rest);
    }
    case 'api': {
      const { apiCommand } = await import('./api-command.js');
      return apiCommand(rest);
    }
    case 'docs': {
      const { docsCommand } = await import('./docs-command.js');
      return docsCommand(rest);
    }
    case 'sim': {
      const { simCommand } = await import('./sim-command.js');
      return simCommand(rest);
    }
    case 'demo': {
      const { demoCommand } = await import('./demo-command.js');
      return demoCommand(rest);
    }
    case 'migrate':
    case 'verify': {
      const { storeCommand } = await import('./store-command.js');
      return storeCommand(command, rest);
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(usage);
      return command === undefined ? 1 : 0;
    default:
      console.error(`unknown command: ${command}\n\n${usage}`);
      return 2;
  }
}


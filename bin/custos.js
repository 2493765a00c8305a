#!/usr/bin/env -S node --max-semi-space-size=64
// The `custos` command. Runs the compiled CLI (npm ci builds it through `prepare`).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('custos is not built yet: run `npm run build` (npm ci does it for you).');
  process.exit(1);
}
const { main } = await import(entry.href);
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  console.error(`custos: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}

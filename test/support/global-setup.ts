import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { migratedInMemory } from '../../src/storage/pglite-store.js';
import { ADAPTERS } from './adapters.js';

declare module 'vitest' {
  interface ProvidedContext {
    /** A dump of an empty, migrated PGlite database, or '' when no suite runs on PGlite. */
    pgliteTemplate: string;
  }
}

/**
 * Creates and migrates one PGlite database for the whole run and hands its dump to every
 * test file: each file's process would otherwise create and migrate its own first (about
 * five seconds each, most of the PGlite pass's time outside the tests themselves).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!ADAPTERS.includes('pglite')) {
    project.provide('pgliteTemplate', '');
    return async () => {};
  }
  const dir = await mkdtemp(join(tmpdir(), 'custos-test-template-'));
  const file = join(dir, 'migrated.tar');
  await writeFile(file, Buffer.from(await (await migratedInMemory()).arrayBuffer()));
  project.provide('pgliteTemplate', file);
  return () => rm(dir, { recursive: true, force: true });
}

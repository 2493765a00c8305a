import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { plainArray } from './pg-array.js';

/** What the migrator needs from a database connection inside one transaction. */
export interface MigrationConnection {
  /** Runs a script of several statements. */
  exec(script: string): Promise<void>;
  query<Row>(text: string, params?: readonly unknown[]): Promise<Row[]>;
}

export type InTransaction = <T>(work: (connection: MigrationConnection) => Promise<T>) => Promise<T>;

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  readonly checksum: string;
}

/** Plain SQL files `NNNN_name.sql`, applied in version order. */
export const migrationsDirectory = new URL('../../migrations/', import.meta.url);

export async function loadMigrations(directory: URL = migrationsDirectory): Promise<Migration[]> {
  const files = (await readdir(directory)).filter((file) => /^\d{4}_[a-z0-9_]+\.sql$/.test(file)).sort();
  return Promise.all(
    files.map(async (file) => {
      const sql = await readFile(new URL(file, directory), 'utf8');
      return {
        version: Number(file.slice(0, 4)),
        name: file.slice(5, -4),
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
      };
    }),
  );
}

/**
 * Applies every migration not yet applied, all in one transaction under an advisory lock,
 * so two processes starting together migrate once. An applied migration whose file has
 * changed stops start-up: history is never rewritten.
 */
export async function migrate(inTransaction: InTransaction, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? (await loadMigrations());
  return inTransaction(async (connection) => {
    await connection.query(`select pg_advisory_xact_lock(7301185531)`);
    await connection.exec(`create table if not exists schema_migrations (
      version integer primary key,
      name text not null,
      checksum text not null,
      applied_at timestamptz not null default now()
    )`);
    const applied = await connection.query<{ version: number; name: string; checksum: string }>(
      `select version, name, checksum from schema_migrations order by version`,
    );
    const known = new Map(applied.map((row) => [row.version, row]));
    const done: string[] = [];
    for (const migration of all) {
      const previous = known.get(migration.version);
      if (previous !== undefined) {
        if (previous.checksum !== migration.checksum) {
          throw new Error(`migration ${migration.version}_${migration.name} changed after it was applied`);
        }
        continue;
      }
      await connection.exec(migration.sql);
      await connection.query(`insert into schema_migrations (version, name, checksum) values ($1, $2, $3)`, [
        migration.version,
        migration.name,
        migration.checksum,
      ]);
      done.push(`${String(migration.version).padStart(4, '0')}_${migration.name}`);
    }
    return done;
  });
}

/** True when every known migration is applied (for readiness checks). */
export async function migrationsApplied(query: MigrationConnection['query']): Promise<boolean> {
  const migrations = await loadMigrations();
  const rows = await query<{ version: number }>(`select version from schema_migrations where version = any($1::int[])`, [
    plainArray(migrations.map((m) => m.version)),
  ]);
  return rows.length === migrations.length;
}

/**
 * PostgreSQL's unique_violation, as both drivers report it (`pg` and the PGlite thread keep
 * the error's fields); with `constraint`, only a violation of that constraint.
 */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { code?: unknown; constraint?: unknown; message?: unknown };
  if (e.code !== '23505') return false;
  return constraint === undefined || e.constraint === constraint || String(e.message).includes(constraint);
}

import { errorCatalog, errorCodes } from './errors.js';

/** docs/errors.md, generated from the catalog (`custos docs errors` writes it). */
export function errorsMarkdown(): string {
  const lines = [
    '# Error codes',
    '',
    'Every error Custos answers is `{ "error": { "code", "message", "param"?, "request_id" } }` with',
    'the HTTP status below. Codes are stable: never renamed, never reused. `message` is for people',
    'and may change; `param` names the request field at fault; quote `request_id` when asking',
    'for help. This page is generated from `src/errors.ts`; a test keeps it, the code and the',
    'OpenAPI document (`x-error-codes`, and the `Error` schema) equal.',
    '',
    '| code | status | meaning |',
    '|---|---|---|',
    ...errorCodes.map((code) => `| \`${code}\` | ${errorCatalog[code].status} | ${errorCatalog[code].description} |`),
    '',
  ];
  return lines.join('\n');
}

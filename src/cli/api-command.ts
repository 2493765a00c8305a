/**
 * `custos api`: every operation of the HTTP API from the command line, driven by the server's
 * own OpenAPI document, so the CLI can never lag behind the API. Path parameters, query
 * parameters and body fields are flags (`--escrow-mode buyer` for `escrow_mode`), typed by the
 * document's schemas; `--json '{…}'` passes a whole body.
 *
 *   CUSTOS_URL=http://127.0.0.1:8080 CUSTOS_TOKEN=cot_… custos api signPlatform --name Shop
 *   custos api --list
 */
interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  $ref?: string;
  allOf?: Schema[];
  anyOf?: Schema[];
  enum?: unknown[];
}

interface Operation {
  operationId?: string;
  summary?: string;
  parameters?: { name: string; in: 'path' | 'query' | 'header'; required?: boolean; schema?: Schema }[];
  requestBody?: { content?: Record<string, { schema?: Schema }> };
}

type Document = { paths: Record<string, Record<string, Operation>> };

const usage = `custos api <operationId> [--field value …] [--json BODY] [--idempotency-key KEY]
custos api --list

  CUSTOS_URL     the server (http://127.0.0.1:8080)
  CUSTOS_TOKEN   a platform API key or an operator token`;

function snake(flag: string): string {
  return flag.replace(/-/g, '_');
}

function typeOf(schema: Schema | undefined): string | undefined {
  if (schema === undefined) return undefined;
  if (Array.isArray(schema.type)) return schema.type.find((t) => t !== 'null');
  if (schema.type !== undefined) return schema.type;
  for (const option of [...(schema.anyOf ?? []), ...(schema.allOf ?? [])]) {
    const found = typeOf(option);
    if (found !== undefined) return found;
  }
  return undefined;
}

function properties(schema: Schema | undefined): Record<string, Schema> {
  if (schema === undefined) return {};
  return Object.assign({}, schema.properties ?? {}, ...(schema.allOf ?? []).map(properties));
}

/** A flag's text as the schema wants it: integers stay integers (never floats), JSON for the rest. */
function typed(name: string, text: string, schema: Schema | undefined): unknown {
  switch (typeOf(schema)) {
    case 'integer':
      if (!/^-?\d+$/.test(text)) throw new Error(`--${name} must be a whole number`);
      return Number(text);
    case 'number':
      throw new Error(`--${name}: this API takes no fractional numbers`);
    case 'boolean':
      if (text !== 'true' && text !== 'false') throw new Error(`--${name} must be true or false`);
      return text === 'true';
    case 'array':
    case 'object':
      return JSON.parse(text) as unknown;
    default:
      return text;
  }
}

function parseFlags(argv: string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    const eq = arg.indexOf('=');
    if (eq > 0) flags.set(arg.slice(2, eq), arg.slice(eq + 1));
    else {
      const value = argv[i + 1];
      if (value === undefined) throw new Error(`--${arg.slice(2)} needs a value`);
      flags.set(arg.slice(2), value);
      i++;
    }
  }
  return flags;
}

export async function apiCommand(argv: string[]): Promise<number> {
  const base = (process.env.CUSTOS_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
  const [operationId, ...rest] = argv;
  if (operationId === undefined || operationId === '--help') {
    console.log(usage);
    return operationId === undefined ? 2 : 0;
  }
  const document = (await (await fetch(`${base}/openapi.json`)).json()) as Document;
  const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ path, method: method.toUpperCase(), operation })),
  );
  if (operationId === '--list') {
    for (const { path, method, operation } of operations) {
      console.log(`${(operation.operationId ?? '-').padEnd(24)} ${method.padEnd(6)} ${path.padEnd(44)} ${operation.summary ?? ''}`);
    }
    return 0;
  }
  const found = operations.find((o) => o.operation.operationId === operationId);
  if (found === undefined) {
    console.error(`unknown operation ${operationId}; see custos api --list`);
    return 2;
  }
  const flags = parseFlags(rest);
  const idempotencyKey = flags.get('idempotency-key');
  flags.delete('idempotency-key');
  let path = found.path;
  const query = new URLSearchParams();
  for (const parameter of found.operation.parameters ?? []) {
    const value = flags.get(parameter.name.replace(/_/g, '-')) ?? flags.get(parameter.name);
    flags.delete(parameter.name.replace(/_/g, '-'));
    flags.delete(parameter.name);
    if (value === undefined) {
      if (parameter.required === true) throw new Error(`--${parameter.name.replace(/_/g, '-')} is required`);
      continue;
    }
    if (parameter.in === 'path') path = path.replace(`{${parameter.name}}`, encodeURIComponent(value));
    else if (parameter.in === 'query') query.set(parameter.name, value);
  }
  const bodySchema = found.operation.requestBody?.content?.['application/json']?.schema;
  let body: Record<string, unknown> | undefined;
  const json = flags.get('json');
  flags.delete('json');
  if (json !== undefined) body = JSON.parse(json) as Record<string, unknown>;
  if (flags.size > 0 && (found.method === 'GET' || found.method === 'DELETE')) {
    throw new Error(`unknown flag(s) for ${operationId}: ${[...flags.keys()].map((f) => `--${f}`).join(', ')}`);
  }
  if (flags.size > 0) {
    const fields = properties(bodySchema);
    body = body ?? {};
    for (const [flag, text] of flags) body[snake(flag)] = typed(flag, text, fields[snake(flag)]);
  }
  if (body === undefined && bodySchema !== undefined) body = {};
  const token = process.env.CUSTOS_TOKEN;
  const response = await fetch(`${base}${path}${query.size > 0 ? `?${query.toString()}` : ''}`, {
    method: found.method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const out = response.headers.get('content-type')?.includes('json') ? JSON.stringify(JSON.parse(text), null, 2) : text;
  (response.ok ? console.log : console.error)(out);
  return response.ok ? 0 : 1;
}

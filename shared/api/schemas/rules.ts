import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { badInput, DomainError } from '../../domain/errors';

extendZodWithOpenApi(z);

/**
 * The contract's error code for a value that fails its schema's shape (wrong type, missing,
 * not in the enum). The deepest coded schema on the failing path names the code, so
 * `sync.mode` answers with the code of `sync`.
 */
const errorCodes = z.registry<{ code: string }>();

export function coded<T extends z.ZodType>(code: string, schema: T): T {
  errorCodes.add(schema, { code });
  return schema;
}

/** Runs a domain rule as a zod check: its DomainError becomes an issue that keeps the rule's code. */
export function rule<T>(check: (value: T) => unknown): z.core.CheckFn<T> {
  return (payload) => {
    const issue = domainIssue(() => check(payload.value));
    if (issue) payload.issues.push({ ...issue, input: payload.value });
  };
}

/** A domain conversion (such as `256MiB` to bytes) as a zod transform, its DomainError kept as the issue. */
export function convert<T, U>(fn: (value: T) => U) {
  return (value: T, ctx: z.core.$RefinementCtx<T>): U => {
    let out: U | undefined;
    const issue = domainIssue(() => {
      out = fn(value);
    });
    if (!issue) return out as U;
    ctx.addIssue(issue);
    return z.NEVER;
  };
}

/** The issue a domain rule raises, at the given path below the checked value. */
export function domainIssue(
  run: () => unknown,
  path: PropertyKey[] = [],
): { code: 'custom'; message: string; path: PropertyKey[]; params: { code: string } } | undefined {
  try {
    run();
    return undefined;
  } catch (e) {
    if (!(e instanceof DomainError) || e.status !== 400) throw e;
    return { code: 'custom', message: e.message, path, params: { code: e.code } };
  }
}

/**
 * Parses a request part against its schema. The first issue becomes the contract's 400:
 * `{"code": <the rule's or the field's code, else bad-input>, "message": "<field path>: <reason>"}`.
 */
export function parseWith<T extends z.ZodType>(schema: T, value: unknown, root: string): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const code = (issue.code === 'custom' && issue.params?.code) || codeAt(schema, issue.path) || 'bad-input';
  const where = issue.path.length ? issue.path.map(String).join('.') : root;
  // Domain messages may name the field already (`sizeBytes: cannot read …`).
  const reason = issue.message.startsWith(`${where}: `)
    ? issue.message.slice(where.length + 2)
    : issue.message;
  throw badInput(`${where}: ${reason}`, code);
}

function codeAt(schema: z.ZodType, path: PropertyKey[]): string | undefined {
  let node: z.ZodType | undefined = schema;
  let code: string | undefined;
  for (const key of [undefined, ...path]) {
    if (key !== undefined) node = childOf(node, key);
    for (const s of unwrapped(node)) code = errorCodes.get(s)?.code ?? code;
    if (!node) break;
  }
  return code;
}

/** The schema and what it wraps (optional, nullable, default, pipe input), outermost first. */
function unwrapped(schema: z.ZodType | undefined): z.ZodType[] {
  const out: z.ZodType[] = [];
  let s = schema;
  while (s) {
    out.push(s);
    const def = s.def as { type: string; innerType?: z.ZodType; in?: z.ZodType };
    s = def.type === 'pipe' ? def.in : def.innerType;
  }
  return out;
}

function childOf(schema: z.ZodType | undefined, key: PropertyKey): z.ZodType | undefined {
  const inner = unwrapped(schema).at(-1);
  if (inner instanceof z.ZodObject) return inner.shape[key as string] as z.ZodType | undefined;
  if (inner instanceof z.ZodArray) return inner.element as z.ZodType;
  if (inner instanceof z.ZodRecord) return inner.valueType as z.ZodType;
  return undefined;
}

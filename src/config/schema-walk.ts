/**
 * Walking the zod schema along a data path: which keys an object allows, what
 * type a field has. Used for "did you mean" suggestions, for turning a whole
 * `${env:}` reference into a number or boolean where the schema wants one,
 * and by the test that keeps config/cluster.example.yaml complete.
 */
import type { z } from 'zod';

type AnySchema = z.ZodType;

interface Def {
  type: string;
  innerType?: AnySchema;
  shape?: Record<string, AnySchema>;
  element?: AnySchema;
  valueType?: AnySchema;
  options?: AnySchema[];
  discriminator?: string;
  in?: AnySchema;
  out?: AnySchema;
  values?: unknown[];
  entries?: Record<string, unknown>;
}

export function defOf(s: AnySchema): Def {
  return (s as unknown as { _zod: { def: Def } })._zod.def;
}

const WRAPPERS = new Set(['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch', 'nonoptional']);

/** The schema under default/optional/... wrappers. */
export function unwrap(s: AnySchema): AnySchema {
  let cur = s;
  for (let i = 0; i < 20; i++) {
    const d = defOf(cur);
    if (WRAPPERS.has(d.type) && d.innerType) cur = d.innerType;
    else if (d.type === 'pipe' && d.in) cur = d.in;
    else break;
  }
  return cur;
}

export function kindOf(s: AnySchema): string {
  return defOf(unwrap(s)).type;
}

/** For a discriminated union, the option matching data's discriminator (if any). */
export function unionOption(s: AnySchema, data: unknown): AnySchema | undefined {
  const d = defOf(unwrap(s));
  if (d.type !== 'union' || !d.options) return undefined;
  if (!d.discriminator) return undefined;
  if (!data || typeof data !== 'object') return undefined;
  const want = (data as Record<string, unknown>)[d.discriminator];
  for (const o of d.options) {
    const od = defOf(unwrap(o));
    const lit = od.shape?.[d.discriminator];
    if (lit && literalValues(lit).includes(want)) return o;
  }
  return undefined;
}

export function literalValues(s: AnySchema): unknown[] {
  const d = defOf(unwrap(s));
  if (d.type === 'literal') return d.values ?? [];
  if (d.type === 'enum') return Object.values(d.entries ?? {});
  return [];
}

/** Discriminator values of a discriminated union (e.g. address types). */
export function unionOptions(s: AnySchema): { discriminator: string; value: string; schema: AnySchema }[] {
  const d = defOf(unwrap(s));
  if (d.type !== 'union' || !d.options || !d.discriminator) return [];
  return d.options.map((o) => ({
    discriminator: d.discriminator!,
    value: String(literalValues(defOf(unwrap(o)).shape![d.discriminator!]!)[0]),
    schema: o,
  }));
}

/** The object shape of a schema, resolving a discriminated union by the data. */
export function shapeOf(s: AnySchema, data?: unknown): Record<string, AnySchema> | undefined {
  const u = unwrap(s);
  const d = defOf(u);
  if (d.type === 'object') return d.shape;
  if (d.type === 'union') {
    const o = unionOption(u, data);
    if (o) return defOf(unwrap(o)).shape;
  }
  return undefined;
}

/** The schema of `key` under `s` (object field, array element, record value), guided by the data. */
export function childSchema(s: AnySchema, key: PropertyKey, data?: unknown): AnySchema | undefined {
  const u = unwrap(s);
  const d = defOf(u);
  if (d.type === 'array') return typeof key === 'number' ? d.element : undefined;
  if (d.type === 'record') return d.valueType;
  const shape = shapeOf(u, data);
  return shape ? shape[String(key)] : undefined;
}

/** Follows a path from the root schema over the root data. */
export function schemaAt(root: AnySchema, rootData: unknown, path: readonly PropertyKey[]): AnySchema | undefined {
  let s: AnySchema | undefined = root;
  let data: unknown = rootData;
  for (const p of path) {
    if (!s) return undefined;
    s = childSchema(s, p, data);
    data = data && typeof data === 'object' ? (data as Record<PropertyKey, unknown>)[p as string] : undefined;
  }
  return s;
}

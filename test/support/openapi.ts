/**
 * Checks real answers of the daemon's API against its own OpenAPI document:
 * the document itself against the OpenAPI 3.1 schema (@seriousme/openapi-schema-validator),
 * then each answer's status and JSON body against the response schema the document gives
 * for that path, method and status (Ajv, JSON Schema 2020-12: OpenAPI 3.1's dialect).
 * It also records which documented operations were exercised.
 */
import assert from 'node:assert/strict';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { Validator } from '@seriousme/openapi-schema-validator';

const DOC_ID = 'heir-openapi.json';
const pointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

export interface OpenApiChecker {
  /** Assert one answer conforms; `path` as requested (query strings are ignored). */
  check(method: string, path: string, status: number, body: unknown, contentType?: string): void;
  /** Documented "METHOD path" pairs no checked answer came from. */
  unexercised(): string[];
}

export async function openApiChecker(doc: any): Promise<OpenApiChecker> {
  const v = new Validator();
  const res = await v.validate(structuredClone(doc));
  assert.equal(res.valid, true, `the OpenAPI document is valid OpenAPI ${doc.openapi}: ${JSON.stringify(res.errors, null, 1)}`);
  assert.equal(v.version, '3.1');

  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(doc, DOC_ID);

  const templates = Object.keys(doc.paths).map((t) => ({
    template: t,
    re: new RegExp(`^${t.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`),
  }));
  const seen = new Set<string>();

  return {
    check(method, rawPath, status, body, contentType) {
      const m = method.toLowerCase();
      let p = rawPath.split('?')[0]!;
      // The unprefixed paths are aliases of the /api/v1 ones.
      if (!p.startsWith('/api/v1/') && p !== '/health' && p !== '/metrics') p = `/api/v1${p}`;
      const t = templates.find((x) => x.re.test(p));
      assert.ok(t, `${method} ${rawPath}: no such path in the OpenAPI document`);
      const op = doc.paths[t.template][m];
      assert.ok(op, `${method} ${rawPath}: the document has no ${m} for ${t.template}`);
      const resp = op.responses[String(status)];
      assert.ok(resp, `${method} ${rawPath} answered ${status}, which the document does not list for it (${Object.keys(op.responses).join(', ')})`);
      seen.add(`${m.toUpperCase()} ${t.template}`);
      if (resp.content?.['application/json']) {
        if (contentType) assert.match(contentType, /^application\/json/, `${method} ${rawPath}: content type`);
        const at = `${DOC_ID}#/paths/${pointer(t.template)}/${m}/responses/${status}/content/${pointer('application/json')}/schema`;
        const validate = ajv.getSchema(at) ?? ajv.compile({ $ref: at });
        const ok = validate(body);
        assert.ok(ok, `${method} ${rawPath} ${status}: the body does not match the document: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 2000)}`);
      } else if (resp.content?.['text/plain']) {
        assert.equal(typeof body, 'string', `${method} ${rawPath}: a text body`);
        if (contentType) assert.match(contentType, /^text\/plain/, `${method} ${rawPath}: content type`);
      }
    },
    unexercised() {
      const all: string[] = [];
      for (const [t, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
        for (const m of Object.keys(ops)) all.push(`${m.toUpperCase()} ${t}`);
      }
      return all.filter((x) => !seen.has(x));
    },
  };
}

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApiHandler } from '../../lambdas/api';
import type { LocalApiServer } from '../../local/http-server';
import { ROUTES } from '../../shared/api/router';
import { type Harness, startApi, startHarness } from '../support/harness';

const checkedIn = () => JSON.parse(readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8'));

describe('OpenAPI document', () => {
  let h: Harness;
  let server: LocalApiServer;

  beforeAll(async () => {
    h = await startHarness({ topology: 'shared' });
    ({ server } = await startApi(h));
  });
  afterAll(async () => {
    await server?.stop();
    await h?.stop();
  });

  it('is served at GET /openapi.json without auth, equal to docs/openapi.json', async () => {
    const res = await fetch(`${server.url}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    const served = (await res.json()) as { openapi: string };
    expect(served.openapi).toBe('3.1.0');
    expect(served).toEqual(checkedIn());
  });

  it('is what the Lambda serves too', async () => {
    const res = await makeApiHandler(() => h.deps)({
      resource: '/openapi.json',
      path: '/openapi.json',
      httpMethod: 'GET',
      body: null,
      isBase64Encoded: false,
      pathParameters: null,
    } as Parameters<ReturnType<typeof makeApiHandler>>[0]);
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toEqual(checkedIn());
  });

  it('documents every route of the router, and nothing else', () => {
    const doc = checkedIn() as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.pattern}`).sort());
  });

  it('documents the error shape for every refusal, and the bearer token on every route but the public ones', () => {
    const doc = checkedIn() as {
      paths: Record<string, Record<string, { security: unknown[]; responses: Record<string, unknown> }>>;
    };
    for (const r of ROUTES) {
      const op = doc.paths[r.pattern][r.method.toLowerCase()];
      expect(Object.keys(op.responses), `${r.method} ${r.pattern}`).toContain(String(r.status));
      const errors = r.public ? ['405'] : ['400', '401', '404', '405', '409', '422'];
      for (const status of errors) {
        expect(op.responses[status], `${r.method} ${r.pattern} ${status}`).toMatchObject({
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        });
      }
      expect(op.security, `${r.method} ${r.pattern}`).toEqual(r.public ? [] : [{ bearer: [] }]);
    }
  });
});

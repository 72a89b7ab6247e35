import type { APIGatewayProxyEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApiHandler } from '../../lambdas/api';
import type { LocalApiServer } from '../../local/http-server';
import { ROUTES } from '../../shared/api/router';
import { type Harness, startApi, startHarness } from '../support/harness';

interface Answer {
  status: number;
  allow?: string | null;
  body: { error?: { code: string; message: string } } & Record<string, unknown>;
}

/**
 * The event API Gateway's REST API hands the function: `path` percent-encoded as sent,
 * `resource` the matched route, `pathParameters` decoded (kept as sent when they do not decode).
 * Undefined when no deployed route has this shape: API Gateway answers those itself.
 */
function restEvent(
  method: string,
  path: string,
  body?: string,
  base64 = false,
): APIGatewayProxyEvent | undefined {
  const got = path.split('/');
  const resource = ROUTES.map((r) => r.pattern).find((pattern) => {
    const want = pattern.split('/');
    return want.length === got.length && want.every((w, i) => w.startsWith('{') || w === got[i]);
  });
  if (!resource) return undefined;
  const pathParameters: Record<string, string> = {};
  for (const [i, w] of resource.split('/').entries()) {
    if (!w.startsWith('{')) continue;
    try {
      pathParameters[w.slice(1, -1)] = decodeURIComponent(got[i]);
    } catch {
      pathParameters[w.slice(1, -1)] = got[i];
    }
  }
  return {
    resource,
    path,
    httpMethod: method,
    headers: { 'content-type': 'application/json' },
    multiValueHeaders: { 'content-type': ['application/json'] },
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: Object.keys(pathParameters).length ? pathParameters : null,
    stageVariables: null,
    requestContext: {
      resourcePath: resource,
      httpMethod: method,
      path: `/prod${path}`,
      stage: 'prod',
    } as APIGatewayProxyEvent['requestContext'],
    body: body === undefined ? null : base64 ? Buffer.from(body).toString('base64') : body,
    isBase64Encoded: base64,
  };
}

describe('API errors: every bad request is a 4xx in the contract shape, never a 5xx', () => {
  let h: Harness;
  let server: LocalApiServer;
  let token: string;
  const lambda = () => makeApiHandler(() => h.deps);

  const viaServer = async (method: string, path: string, body?: string): Promise<Answer> => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body,
    });
    const text = await res.text();
    return { status: res.status, allow: res.headers.get('allow'), body: text ? JSON.parse(text) : {} };
  };
  const viaLambda = async (method: string, path: string, body?: string): Promise<Answer | undefined> => {
    const event = restEvent(method, path, body);
    if (!event) return undefined;
    const res = await lambda()(event);
    return {
      status: res.statusCode,
      allow: (res.headers?.allow as string | undefined) ?? null,
      body: res.body ? JSON.parse(res.body) : {},
    };
  };

  beforeAll(async () => {
    h = await startHarness({ topology: 'shared' });
    ({ server, token } = await startApi(h));
  });
  afterAll(async () => {
    await server?.stop();
    await h?.stop();
  });

  // method, path, body, status, code (through the server), code through the Lambda where it differs
  const cases: [string, string, string | undefined, number, string, string?][] = [
    ['GET', '/volumes/%E0%A4%A', undefined, 400, 'bad-path', 'bad-id'],
    ['GET', '/groups/%', undefined, 400, 'bad-path', 'bad-id'],
    ['DELETE', '/volumes/%ff', undefined, 400, 'bad-path', 'bad-id'],
    ['GET', '/groups/%zz/events', undefined, 400, 'bad-path', 'bad-id'],
    ['GET', '/groups/grp-000000000000/syncs/%C3%28', undefined, 400, 'bad-path', 'bad-id'],
    ['GET', '/vol%umes', undefined, 400, 'bad-path'],
    ['GET', '/volumes/..%2F..%2Fetc', undefined, 400, 'bad-id'],
    ['GET', '/volumes/vol-a%2Fb', undefined, 400, 'bad-id'],
    ['GET', '/volumes/%20', undefined, 400, 'bad-id'],
    ['GET', '/volumes/vol-000000000000', undefined, 404, 'volume-not-found'],
    ['GET', '/nowhere', undefined, 404, 'route-not-found'],
    ['GET', '//volumes', undefined, 404, 'route-not-found'],
    ['POST', '/volumes', '{not json', 400, 'bad-json'],
    ['POST', '/volumes', '[1, 2]', 400, 'bad-json'],
    ['POST', '/volumes', 'null', 400, 'bad-json'],
    ['POST', '/volumes', '{"name":{},"site":"east","sizeBytes":"1MiB"}', 400, 'bad-name'],
    ['POST', '/volumes', '{"name":"x","site":["east"],"sizeBytes":"1MiB"}', 400, 'bad-site'],
    ['POST', '/volumes', '{"name":"x","site":"east","sizeBytes":{"n":1}}', 400, 'bad-size'],
    [
      'POST',
      '/groups',
      '{"name":"g","primarySite":"east","secondarySite":"west","sync":null}',
      400,
      'bad-sync',
    ],
    ['PATCH', '/groups/grp-000000000000', '{}', 404, 'group-not-found'],
  ];

  it.each(cases)('%s %s %s -> %i %s', async (method, path, body, status, code, lambdaCode) => {
    const before = JSON.stringify(await viaServer('GET', '/volumes'));
    const res = await viaServer(method, path, body);
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status, code });
    expect(res.body.error?.message.length).toBeGreaterThan(10);
    const viaFn = await viaLambda(method, path, body);
    if (viaFn) {
      expect({ status: viaFn.status, code: viaFn.body.error?.code }).toEqual({
        status,
        code: lambdaCode ?? code,
      });
      expect(viaFn.body.error?.message.length).toBeGreaterThan(10);
    }
    expect(JSON.stringify(await viaServer('GET', '/volumes'))).toBe(before);
  });

  it('answers a known path asked with another method with 405 and the methods it serves', async () => {
    for (const [method, path, allow] of [
      ['PUT', '/volumes', 'POST, GET'],
      ['DELETE', '/groups', 'POST, GET'],
      ['GET', '/groups/grp-000000000000/sync', 'POST'],
      ['HEAD', '/groups/grp-000000000000/syncs/syn-000000000000', 'GET'],
    ]) {
      const res = await viaServer(method, path);
      expect({ path, status: res.status, allow: res.allow }).toEqual({ path, status: 405, allow });
      if (method !== 'HEAD') expect(res.body.error?.code).toBe('method-not-allowed');
      const viaFn = await viaLambda(method, path);
      expect({ path, status: viaFn?.status, allow: viaFn?.allow }).toEqual({ path, status: 405, allow });
      expect(viaFn?.body.error?.code).toBe('method-not-allowed');
    }
  });

  it('serves a real-shaped REST event: a base64 body, then the volume by its path parameter', async () => {
    const body = JSON.stringify({ name: 'evt', site: 'east', sizeBytes: '1MiB' });
    const created = await lambda()(restEvent('POST', '/volumes', body, true) as APIGatewayProxyEvent);
    expect(created.statusCode).toBe(201);
    const volume = JSON.parse(created.body);
    const got = await lambda()(restEvent('GET', `/volumes/${volume.id}`) as APIGatewayProxyEvent);
    expect({ status: got.statusCode, id: JSON.parse(got.body).id }).toEqual({ status: 200, id: volume.id });
    const deleted = await lambda()(restEvent('DELETE', `/volumes/${volume.id}`) as APIGatewayProxyEvent);
    expect({ status: deleted.statusCode, body: deleted.body }).toEqual({ status: 204, body: '' });
  });
});

import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { makeApiHandler } from '../../lambdas/api';
import type { Deps } from '../../shared/deps';
import { jsonLinesOf } from '../support/stdout';

const event = (over: Partial<APIGatewayProxyEvent>) =>
  ({
    httpMethod: 'GET',
    path: '/volumes',
    resource: '/volumes',
    pathParameters: null,
    body: null,
    ...over,
  }) as APIGatewayProxyEvent;

describe('API handler', () => {
  it('answers an unexpected failure with a bare 500 and logs it, with the route and request id, as one JSON line', async () => {
    // Every control-table call fails as a dropped connection would.
    const table = new Proxy({}, { get: () => () => Promise.reject(new Error('socket hang up')) });
    const deps = { table } as unknown as Deps;
    const logger = new Logger({ serviceName: 'volmirror', logLevel: 'ERROR' });
    const handler = makeApiHandler(() => deps, { logger });
    const { result, lines } = await jsonLinesOf(() => handler(event({}), { awsRequestId: 'req-1' }));
    expect(result.statusCode).toBe(500);
    expect(result.body).not.toContain('socket hang up');
    const line = lines.find((l) => l.message === 'request failed');
    expect(line).toMatchObject({ level: 'ERROR', path: '/volumes', awsRequestId: 'req-1' });
    expect(JSON.stringify(line)).toContain('socket hang up');
  });

  it("logs nothing for a refused request (a 4xx is the client's business)", async () => {
    const logger = new Logger({ serviceName: 'volmirror', logLevel: 'DEBUG' });
    const handler = makeApiHandler(() => ({}) as Deps, { logger });
    const { result, lines } = await jsonLinesOf(() =>
      handler(event({ httpMethod: 'POST', resource: '/volumes', body: '{"name":"../x"}' })),
    );
    expect(result.statusCode).toBe(400);
    expect(lines).toEqual([]);
  });
});

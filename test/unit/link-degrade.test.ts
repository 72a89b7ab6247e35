import { createServer, request, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinkProxy } from '../../local/link-proxy';

/** A loopback HTTP target that answers 200 with the request body echoed. */
function echoServer(): Promise<Server> {
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (p: Buffer) => parts.push(p));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(Buffer.concat(parts));
    });
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

function post(
  port: number,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'POST', path: '/b/k', headers, timeout: 5000, agent: false },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (p: Buffer) => parts.push(p));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(parts).toString(),
            ms: Date.now() - started,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('link proxy degrade', () => {
  let target: Server;
  let proxy: LinkProxy;

  beforeAll(async () => {
    target = await echoServer();
    const addr = target.address();
    proxy = await LinkProxy.start(typeof addr === 'object' && addr ? addr.port : 0);
  });

  afterAll(async () => {
    await proxy.stop();
    await new Promise((r) => target.close(r));
  });

  it('answers every request with S3 SlowDown at rate 1, forwards again after heal', async () => {
    expect((await post(proxy.port, 'a')).body).toBe('a');
    proxy.degrade({ errorRate: 1, status: 503, delayMs: 0 });
    const slow = await post(proxy.port, 'b');
    expect(slow.status).toBe(503);
    expect(slow.body).toContain('<Code>SlowDown</Code>');
    proxy.heal();
    expect(proxy.degraded).toBeUndefined();
    const healed = await post(proxy.port, 'c');
    expect(healed).toMatchObject({ status: 200, body: 'c' });
  });

  it('answers SQS JSON-protocol requests with a JSON error, 500 when asked', async () => {
    proxy.degrade({ errorRate: 1, status: 500, delayMs: 0 });
    const r = await post(proxy.port, '{}', { 'content-type': 'application/x-amz-json-1.0' });
    expect(r.status).toBe(500);
    expect(JSON.parse(r.body).__type).toContain('InternalError');
    proxy.heal();
  });

  it('fails about the asked fraction of requests and delays the rest', async () => {
    proxy.degrade({ errorRate: 0.5, status: 503, delayMs: 30 });
    const results = [];
    for (let i = 0; i < 60; i++) results.push(await post(proxy.port, `x${i}`));
    const failed = results.filter((r) => r.status === 503).length;
    expect(failed).toBeGreaterThan(10);
    expect(failed).toBeLessThan(50);
    for (const r of results.filter((x) => x.status === 200)) expect(r.body).toMatch(/^x\d+$/);
    expect(Math.min(...results.map((r) => r.ms))).toBeGreaterThanOrEqual(25);
    proxy.heal();
  });

  it('refuses a rate outside 0..1', () => {
    expect(() => proxy.degrade({ errorRate: 2, status: 503, delayMs: 0 })).toThrow(/error rate/);
  });
});

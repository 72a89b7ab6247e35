import { Agent, createServer, request, type Server } from 'node:http';

/**
 * One endpoint in front of two emulators: requests whose `X-Amz-Target` names DynamoDB go to
 * DynamoDB Local, everything else (S3, SQS) to LocalStack. This is what LocalStack does itself
 * when it runs DynamoDB, which its host-mode core cannot do here.
 */
export class DynamoDbRouter {
  private constructor(
    private readonly server: Server,
    private readonly agent: Agent,
    readonly port: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static start(targets: { dynamodbPort: number; otherPort: number }): Promise<DynamoDbRouter> {
    const agent = new Agent({ keepAlive: true });
    const server = createServer((req, res) => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const port = target.startsWith('DynamoDB_') ? targets.dynamodbPort : targets.otherPort;
      // Headers go through untouched: the signature covers Host, and path-style S3 needs nothing else.
      const upstream = request(
        { host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers, agent },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.rawHeaders);
          up.pipe(res);
        },
      );
      upstream.on('error', (e) => {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`volmirror router: upstream on port ${port}: ${e.message}`);
      });
      req.on('error', () => upstream.destroy());
      req.pipe(upstream);
    });
    return new Promise((resolve, reject) => {
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const addr = server.address();
        if (typeof addr !== 'object' || !addr) return reject(new Error('router did not bind'));
        resolve(new DynamoDbRouter(server, agent, addr.port));
      });
    });
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
    this.agent.destroy();
  }
}

import { createServer, type IncomingMessage, type Server } from 'node:http';
import { ROUTES, route } from '../shared/api/router';
import type { Deps } from '../shared/deps';

const MAX_BODY = 1024 * 1024;

/** The paths that answer without auth: /health and the OpenAPI document. */
const PUBLIC = new Set(ROUTES.filter((r) => r.public).map((r) => r.pattern));

/** The REST API on loopback, with a bearer token standing in for API Gateway's IAM auth. */
export class LocalApiServer {
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static start(deps: Deps, token: string, port = 0): Promise<LocalApiServer> {
    const server = createServer(async (req, res) => {
      const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, {
          ...(body !== undefined && { 'content-type': 'application/json' }),
          ...headers,
        });
        res.end(body === undefined ? undefined : JSON.stringify(body));
      };
      try {
        const path = pathOf(req.url);
        if (path === undefined) {
          return send(400, {
            error: { code: 'bad-path', message: `the request target ${req.url} is not a path` },
          });
        }
        if (!PUBLIC.has(path) && req.headers.authorization !== `Bearer ${token}`) {
          return send(401, { error: { code: 'unauthorized', message: 'missing or wrong bearer token' } });
        }
        const body = await readBody(req);
        if (body === undefined)
          return send(413, { error: { code: 'too-large', message: 'body over 1 MiB' } });
        const out = await route(deps, { method: req.method ?? 'GET', path, body });
        if (out.failure)
          process.stderr.write(`request ${out.failure.path} failed: ${String(out.failure.error)}\n`);
        send(out.status, out.body, out.headers);
      } catch (e) {
        send(500, { error: { code: 'internal', message: String(e) } });
      }
    });
    return new Promise((resolve, reject) => {
      server.on('error', reject);
      server.listen(port, '127.0.0.1', () => {
        const addr = server.address();
        if (typeof addr !== 'object' || !addr) return reject(new Error('API server did not bind'));
        resolve(new LocalApiServer(server, addr.port));
      });
    });
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/**
 * The percent-encoded path of a request target, left encoded for the router to decode per
 * segment. Taken as sent: `new URL` would read `//volumes` as a host name.
 */
function pathOf(target: string | undefined): string | undefined {
  const path = (target ?? '/').split(/[?#]/)[0];
  return path.startsWith('/') ? path : undefined;
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of req) {
    size += (part as Buffer).length;
    if (size > MAX_BODY) return undefined;
    parts.push(part as Buffer);
  }
  return Buffer.concat(parts).toString('utf8');
}

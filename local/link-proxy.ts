import {
  Agent,
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  request,
  type ServerResponse,
} from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';

/** A slow or failing path to a site: a fraction of HTTP requests get an error, all may be delayed. */
export interface Degradation {
  /** Fraction (0..1) of requests answered with `status` instead of being forwarded. */
  errorRate: number;
  status: 503 | 500;
  /** Added before each request is answered or forwarded. */
  delayMs: number;
}

/** What a link proxy did, counted where it happened: the fault injections and the requests they hit. */
export interface LinkCounters {
  /** cutLink() calls that cut a link that was up. */
  cuts: number;
  /** Connections reset or refused because the link was cut. */
  connectionsCut: number;
  /** heal() calls that cleared a cut or a degradation. */
  heals: number;
  /** degrade() calls: each opens a degradation window. */
  degradeWindows: number;
  /** Requests answered with 503 or 500 instead of being forwarded. */
  answered503: number;
  answered500: number;
  /** Requests held for the degradation's delay before being answered or forwarded. */
  delayed: number;
  /** stall() calls that stalled a link that was flowing. */
  stalls: number;
  /** Connections whose held bytes were dropped because the client gave up during a stall. */
  stalledDropped: number;
}

/**
 * A TCP proxy on loopback in front of one site's emulator. Cutting it resets every open
 * connection and refuses new ones, as a lost inter-site link would.
 */
export class LinkProxy {
  private readonly sockets = new Set<Socket>();
  private cut = false;
  private stalled = false;
  private readonly releasers = new Set<() => void>();
  private degradation: Degradation | undefined;
  /** Parses the requests of connections accepted while degraded; never listens itself. */
  private readonly front: HttpServer;
  private readonly upstreamAgent = new Agent({ keepAlive: true });
  readonly counters: LinkCounters = {
    cuts: 0,
    connectionsCut: 0,
    heals: 0,
    degradeWindows: 0,
    answered503: 0,
    answered500: 0,
    delayed: 0,
    stalls: 0,
    stalledDropped: 0,
  };

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly targetPort: number,
  ) {
    this.front = createHttpServer((req, res) => void this.forwardDegraded(req, res));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get isCut(): boolean {
    return this.cut;
  }

  get degraded(): Degradation | undefined {
    return this.degradation;
  }

  static start(targetPort: number): Promise<LinkProxy> {
    return new Promise((resolve, reject) => {
      let proxy: LinkProxy | undefined;
      const server = createServer((client) => {
        if (!proxy || proxy.cut) {
          if (proxy) proxy.counters.connectionsCut++;
          client.resetAndDestroy();
          return;
        }
        const p = proxy;
        if (p.degradation) {
          p.sockets.add(client);
          client.on('close', () => p.sockets.delete(client));
          p.front.emit('connection', client);
          return;
        }
        const upstream = connect(targetPort, '127.0.0.1');
        for (const s of [client, upstream]) {
          p.sockets.add(s);
          s.on('close', () => p.sockets.delete(s));
          s.on('error', () => {
            client.destroy();
            upstream.destroy();
          });
        }
        // Client bytes go through by hand so that a stall can hold them back.
        const held: Buffer[] = [];
        let ended = false;
        const flushHeld = () => {
          for (const b of held.splice(0)) upstream.write(b);
          if (ended) upstream.end();
        };
        p.releasers.add(flushHeld);
        client.on('data', (b: Buffer) => {
          if (p.stalled) held.push(b);
          else upstream.write(b);
        });
        client.on('end', () => {
          ended = true;
          if (held.length === 0) upstream.end();
        });
        client.on('close', () => {
          p.releasers.delete(flushHeld);
          // A client that gave up on a stalled request: what it sent is never delivered.
          if (held.length > 0) {
            p.counters.stalledDropped++;
            held.length = 0;
            upstream.destroy();
          }
        });
        upstream.pipe(client);
      });
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const addr = server.address();
        if (typeof addr !== 'object' || !addr) return reject(new Error('proxy did not bind'));
        proxy = new LinkProxy(server, addr.port, targetPort);
        resolve(proxy);
      });
    });
  }

  cutLink(): void {
    if (!this.cut) this.counters.cuts++;
    this.cut = true;
    this.counters.connectionsCut += this.sockets.size;
    for (const s of this.sockets) s.resetAndDestroy();
    this.sockets.clear();
  }

  /**
   * From now on answers a fraction of requests with an error and/or delays them. Open
   * connections are reset, as a flaky link would, so that every later request goes through
   * the request-level path (a plain TCP pipe cannot see request boundaries).
   */
  degrade(d: Degradation): void {
    if (!(d.errorRate >= 0 && d.errorRate <= 1)) throw new Error('error rate must be between 0 and 1');
    if (!(d.delayMs >= 0)) throw new Error('delay must be zero or more milliseconds');
    this.degradation = { ...d };
    this.counters.degradeWindows++;
    for (const s of this.sockets) s.resetAndDestroy();
    this.sockets.clear();
  }

  /** Restores the link: no cut, no degradation. */
  heal(): void {
    if (this.cut || this.degradation) this.counters.heals++;
    this.cut = false;
    this.degradation = undefined;
  }

  private async forwardDegraded(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const d = this.degradation;
    if (d && d.delayMs > 0) {
      this.counters.delayed++;
      await new Promise((r) => setTimeout(r, d.delayMs));
    }
    if (d && Math.random() < d.errorRate) {
      if (d.status === 503) this.counters.answered503++;
      else this.counters.answered500++;
      req.resume();
      const e = errorBody(req, d.status);
      res.writeHead(d.status, { 'content-type': e.type, 'content-length': Buffer.byteLength(e.body) });
      res.end(e.body);
      return;
    }
    const up = request(
      {
        host: '127.0.0.1',
        port: this.targetPort,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent: this.upstreamAgent,
      },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  }

  /**
   * Holds every byte from clients to the server (a request that never arrives) until
   * release(); bytes of a client that closes meanwhile are dropped, never delivered.
   */
  stall(): void {
    if (!this.stalled) this.counters.stalls++;
    this.stalled = true;
  }

  /** Ends a stall: held bytes of clients still connected go on to the server. */
  release(): void {
    this.stalled = false;
    for (const flush of this.releasers) flush();
  }

  stop(): Promise<void> {
    this.upstreamAgent.destroy();
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** The error each protocol's client parses: S3 answers XML, SQS's JSON protocol answers JSON. */
function errorBody(req: IncomingMessage, status: 503 | 500): { type: string; body: string } {
  const json = String(req.headers['content-type'] ?? '').includes('amz-json');
  if (status === 503) {
    return json
      ? {
          type: 'application/x-amz-json-1.0',
          body: JSON.stringify({ __type: 'com.amazonaws.sqs#RequestThrottled', message: 'Rate exceeded' }),
        }
      : {
          type: 'application/xml',
          body: '<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>',
        };
  }
  return json
    ? {
        type: 'application/x-amz-json-1.0',
        body: JSON.stringify({ __type: 'com.amazonaws.sqs#InternalError', message: 'Internal error' }),
      }
    : {
        type: 'application/xml',
        body: '<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>',
      };
}

import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on loopback in front of one site's emulator. Cutting it resets every open
 * connection and refuses new ones, as a lost inter-site link would.
 */
export class LinkProxy {
  private readonly sockets = new Set<Socket>();
  private cut = false;
  private stalled = false;
  private readonly releasers = new Set<() => void>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get isCut(): boolean {
    return this.cut;
  }

  static start(targetPort: number): Promise<LinkProxy> {
    return new Promise((resolve, reject) => {
      let proxy: LinkProxy | undefined;
      const server = createServer((client) => {
        if (!proxy || proxy.cut) {
          client.resetAndDestroy();
          return;
        }
        const p = proxy;
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
        proxy = new LinkProxy(server, addr.port);
        resolve(proxy);
      });
    });
  }

  cutLink(): void {
    this.cut = true;
    for (const s of this.sockets) s.resetAndDestroy();
    this.sockets.clear();
  }

  heal(): void {
    this.cut = false;
  }

  /**
   * Holds every byte from clients to the server (a request that never arrives) until
   * release(); bytes of a client that closes meanwhile are dropped, never delivered.
   */
  stall(): void {
    this.stalled = true;
  }

  /** Ends a stall: held bytes of clients still connected go on to the server. */
  release(): void {
    this.stalled = false;
    for (const flush of this.releasers) flush();
  }

  stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}

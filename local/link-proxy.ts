import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on loopback in front of one site's emulator. Cutting it resets every open
 * connection and refuses new ones, as a lost inter-site link would.
 */
export class LinkProxy {
  private readonly sockets = new Set<Socket>();
  private cut = false;

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
        client.pipe(upstream);
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

  stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}

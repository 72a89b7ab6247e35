import { Agent, createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';

/** Requests and body bytes of one `service operation` (e.g. `s3 PutObject`) as seen on the wire. */
export interface WireCount {
  requests: number;
  /** Request body bytes, client to emulator. */
  bytesUp: number;
  /** Response body bytes, emulator to client. */
  bytesDown: number;
}

export type WireSnapshot = Map<string, WireCount>;

/**
 * An HTTP proxy on loopback in front of one emulator that counts every request by AWS
 * service and operation, with the body bytes each way. volmirror's SDK clients and rclone
 * both go through it, so both sides of a comparison are counted by the same code.
 */
export class WireCounter {
  readonly counts: WireSnapshot = new Map();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static start(target: string): Promise<WireCounter> {
    const { hostname, port } = new URL(target);
    return new Promise((resolve, reject) => {
      let counter: WireCounter | undefined;
      const server = createServer((req, res) => {
        const c = counter?.entry(operationOf(req));
        if (!c) return void res.destroy();
        c.requests++;
        const up = request(
          {
            host: hostname,
            port,
            method: req.method,
            path: req.url,
            headers: req.headers,
            agent: counter?.agent,
          },
          (upRes) => {
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            upRes.on('data', (b: Buffer) => {
              c.bytesDown += b.length;
            });
            upRes.pipe(res);
          },
        );
        up.on('error', () => res.destroy());
        res.on('close', () => {
          if (!res.writableFinished) up.destroy();
        });
        req.on('data', (b: Buffer) => {
          c.bytesUp += b.length;
        });
        req.pipe(up);
      });
      server.keepAliveTimeout = 60_000;
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const addr = server.address();
        if (typeof addr !== 'object' || !addr) return reject(new Error('wire counter did not bind'));
        counter = new WireCounter(server, addr.port);
        resolve(counter);
      });
    });
  }

  private entry(key: string): WireCount {
    let c = this.counts.get(key);
    if (!c) {
      c = { requests: 0, bytesUp: 0, bytesDown: 0 };
      this.counts.set(key, c);
    }
    return c;
  }

  snapshot(): WireSnapshot {
    return new Map([...this.counts].map(([k, v]) => [k, { ...v }]));
  }

  stop(): Promise<void> {
    this.agent.destroy();
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** Several counters read as one: the emulators of one benchmark run. */
export class WireCounters {
  constructor(readonly all: WireCounter[]) {}

  snapshot(): WireSnapshot {
    const out: WireSnapshot = new Map();
    for (const c of this.all) {
      for (const [k, v] of c.counts) {
        const o = out.get(k) ?? { requests: 0, bytesUp: 0, bytesDown: 0 };
        out.set(k, {
          requests: o.requests + v.requests,
          bytesUp: o.bytesUp + v.bytesUp,
          bytesDown: o.bytesDown + v.bytesDown,
        });
      }
    }
    return out;
  }

  /** Totals since `before` of the operations whose key starts with `prefix` (`s3`, `sqs`, `s3 PutObject`). */
  since(before: WireSnapshot, prefix = ''): WireCount {
    const now = this.snapshot();
    const t = { requests: 0, bytesUp: 0, bytesDown: 0 };
    for (const [k, v] of now) {
      if (!(k === prefix || k.startsWith(prefix === '' ? '' : `${prefix} `))) continue;
      const b = before.get(k) ?? { requests: 0, bytesUp: 0, bytesDown: 0 };
      t.requests += v.requests - b.requests;
      t.bytesUp += v.bytesUp - b.bytesUp;
      t.bytesDown += v.bytesDown - b.bytesDown;
    }
    return t;
  }

  /** Requests since `before` per operation, for the tables. */
  byOperation(before: WireSnapshot, service: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of this.snapshot()) {
      if (!k.startsWith(`${service} `)) continue;
      const n = v.requests - (before.get(k)?.requests ?? 0);
      if (n > 0) out[k.slice(service.length + 1)] = n;
    }
    return out;
  }

  stop(): Promise<unknown> {
    return Promise.all(this.all.map((c) => c.stop()));
  }
}

/** `service Operation` of a request: JSON protocols name it in X-Amz-Target, S3 in method, path and query. */
export function operationOf(req: { method?: string; url?: string; headers: IncomingHttpHeaders }): string {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string') {
    const [prefix, op] = target.split('.');
    return `${prefix.startsWith('DynamoDB') ? 'dynamodb' : prefix.startsWith('AmazonSQS') ? 'sqs' : prefix} ${op}`;
  }
  const url = new URL(req.url ?? '/', 'http://x');
  const q = url.searchParams;
  const inBucket = url.pathname.split('/').filter(Boolean).length > 1;
  switch (req.method) {
    case 'PUT':
      if (req.headers['x-amz-copy-source']) return q.has('uploadId') ? 's3 UploadPartCopy' : 's3 CopyObject';
      if (q.has('uploadId')) return 's3 UploadPart';
      if (!inBucket) return q.has('versioning') ? 's3 PutBucketVersioning' : 's3 CreateBucket';
      return 's3 PutObject';
    case 'GET':
      if (!inBucket) {
        if (q.has('versions')) return 's3 ListObjectVersions';
        if (q.has('location')) return 's3 GetBucketLocation';
        return 's3 ListObjects';
      }
      return 's3 GetObject';
    case 'HEAD':
      return inBucket ? 's3 HeadObject' : 's3 HeadBucket';
    case 'DELETE':
      return 's3 DeleteObject';
    case 'POST':
      if (q.has('delete')) return 's3 DeleteObjects';
      if (q.has('uploads')) return 's3 CreateMultipartUpload';
      if (q.has('uploadId')) return 's3 CompleteMultipartUpload';
      // SQS's query protocol names the action in the form body; the SDK uses JSON (above).
      return 'other POST';
    default:
      return `other ${req.method}`;
  }
}

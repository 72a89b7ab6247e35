import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { MetadataBearer, MiddlewareStack } from '@smithy/types';
import type { MirrorConfig } from '../config';
import { HTTP_KEEP_ALIVE, MAX_SOCKETS } from '../tuning';

export interface SiteClients {
  s3: S3Client;
  sqs: SQSClient;
}

/** Every AWS SDK client of the process, built here once and injected everywhere else. */
export interface Clients {
  control: DynamoDBClient;
  sites: Record<string, SiteClients>;
  /** The alert topic's and alarms' region (config.alerts); absent when alerts are off. */
  alerts?: { sns: SNSClient; cloudwatch: CloudWatchClient };
  destroy(): void;
}

// Emulators accept any key but DynamoDB Local, which takes letters and digits only; real AWS uses the
// default provider chain.
const EMULATOR_CREDENTIALS = { accessKeyId: 'volmirrorlocal', secretAccessKey: 'volmirrorlocal' };

function endpointOptions(endpoint: string | undefined) {
  if (!endpoint) return {};
  const fromEnv = process.env.AWS_ACCESS_KEY_ID !== undefined;
  return { endpoint, ...(fromEnv ? {} : { credentials: EMULATOR_CREDENTIALS }) };
}

export function buildClients(config: MirrorConfig): Clients {
  // A request that hangs (a stalled link, an overloaded endpoint) fails and is retried
  // instead of stalling a sync or a gateway forever.
  const retry = {
    maxAttempts: 3,
    requestHandler: {
      connectionTimeout: 5_000,
      requestTimeout: 30_000,
      httpAgent: { keepAlive: HTTP_KEEP_ALIVE, maxSockets: MAX_SOCKETS },
      httpsAgent: { keepAlive: HTTP_KEEP_ALIVE, maxSockets: MAX_SOCKETS },
    },
  };
  const control = new DynamoDBClient({
    region: config.control.region,
    ...retry,
    ...endpointOptions(config.control.endpoint),
  });
  const sites: Record<string, SiteClients> = {};
  for (const site of config.sites) {
    const opts = { region: site.region, ...retry, ...endpointOptions(site.endpoint) };
    sites[site.name] = {
      s3: new S3Client({
        ...opts,
        forcePathStyle: site.endpoint !== undefined,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      }),
      sqs: new SQSClient(opts),
    };
  }
  const a = config.alerts;
  const alertOpts = a && { region: a.region, ...retry, ...endpointOptions(a.endpoint) };
  const alerts = alertOpts && { sns: new SNSClient(alertOpts), cloudwatch: new CloudWatchClient(alertOpts) };
  return {
    control,
    sites,
    ...(alerts && { alerts }),
    destroy() {
      control.destroy();
      alerts?.sns.destroy();
      alerts?.cloudwatch.destroy();
      for (const s of Object.values(sites)) {
        s.s3.destroy();
        s.sqs.destroy();
      }
    },
  };
}

/** Requests sent, by `service site command` (e.g. `s3 west CopyObjectCommand`), for benchmarks and tests. */
export class RequestCounter {
  readonly counts = new Map<string, number>();

  attach(clients: Clients): this {
    this.watch(clients.control, 'dynamodb control');
    for (const [site, c] of Object.entries(clients.sites)) {
      this.watch(c.s3, `s3 ${site}`);
      this.watch(c.sqs, `sqs ${site}`);
    }
    return this;
  }

  private watch(client: DynamoDBClient | S3Client | SQSClient, label: string): void {
    const stack = client.middlewareStack as unknown as MiddlewareStack<object, MetadataBearer>;
    stack.add(
      (next, context) => async (args) => {
        const key = `${label} ${context.commandName}`;
        this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
        return next(args);
      },
      { step: 'initialize', name: `volmirrorCounter` },
    );
  }

  /** Sum of the counts whose key contains every given word. */
  total(...words: string[]): number {
    let n = 0;
    for (const [k, v] of this.counts) if (words.every((w) => k.split(' ').includes(w))) n += v;
    return n;
  }

  snapshot(): Map<string, number> {
    return new Map(this.counts);
  }

  /** Counts since a snapshot, summed by word filter. */
  since(before: Map<string, number>, ...words: string[]): number {
    let n = 0;
    for (const [k, v] of this.counts) {
      if (words.every((w) => k.split(' ').includes(w))) n += v - (before.get(k) ?? 0);
    }
    return n;
  }
}

import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';

type SourceData = string | ArrayBuffer | ArrayBufferView;

const bytes = (data: SourceData): Buffer =>
  typeof data === 'string'
    ? Buffer.from(data)
    : ArrayBuffer.isView(data)
      ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
      : Buffer.from(data);

/** SHA-256 and HMAC-SHA-256 from node:crypto, in the shape SignatureV4 expects. */
class Sha256 {
  private hash: Hash | Hmac;
  constructor(private readonly secret?: SourceData) {
    this.hash = this.fresh();
  }
  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(this.secret));
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.fresh();
  }
}

export interface SignedHeaders {
  headers: Record<string, string>;
}

/**
 * Signs API Gateway requests (service execute-api) with the credentials of the default
 * provider chain (environment, profile, SSO, instance role), as IAM authorization expects.
 */
export function sigv4Signer(region: string, credentials = defaultProvider()) {
  const signer = new SignatureV4({ service: 'execute-api', region, credentials, sha256: Sha256 });
  return async (method: string, url: string, body: string | undefined): Promise<Record<string, string>> => {
    const u = new URL(url);
    const signed = await signer.sign({
      method,
      protocol: u.protocol,
      hostname: u.hostname,
      port: u.port ? Number(u.port) : undefined,
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      headers: { host: u.host, ...(body !== undefined && { 'content-type': 'application/json' }) },
      body,
    });
    return signed.headers;
  };
}

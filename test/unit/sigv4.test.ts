import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sigv4Signer } from '../../cli/sigv4';

const credentials = async () => ({
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
});
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

describe('SigV4 signing of API requests', () => {
  it('signs for execute-api in the given region, and the signature checks out by the spec', async () => {
    const sign = sigv4Signer('us-west-2', credentials);
    const body = '{"name":"db"}';
    const url = 'https://abc123.execute-api.us-west-2.amazonaws.com/v1/volumes';
    const h = await sign('POST', url, body);
    const auth = h.authorization;
    const m =
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/(\d{8})\/us-west-2\/execute-api\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
        auth,
      );
    expect(m).not.toBeNull();
    const [, day, signedHeaders, signature] = m as RegExpExecArray;
    // Recompute the signature independently from the canonical request (SigV4 spec).
    const amzDate = h['x-amz-date'];
    const names = signedHeaders.split(';');
    const all: Record<string, string> = {
      ...h,
      host: 'abc123.execute-api.us-west-2.amazonaws.com',
      'content-type': 'application/json',
    };
    const canonical = [
      'POST',
      '/v1/volumes',
      '',
      ...names.map((n) => `${n}:${all[n]}`),
      '',
      signedHeaders,
      createHash('sha256').update(body).digest('hex'),
    ].join('\n');
    const scope = `${day}/us-west-2/execute-api/aws4_request`;
    const toSign = [
      'AWS4-HMAC-SHA256',
      amzDate,
      scope,
      createHash('sha256').update(canonical).digest('hex'),
    ].join('\n');
    let key = hmac('AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', day);
    for (const part of ['us-west-2', 'execute-api', 'aws4_request']) key = hmac(key, part);
    expect(signature).toBe(createHmac('sha256', key).update(toSign).digest('hex'));
    // A different body signs differently.
    expect((await sign('POST', url, '{"name":"other"}')).authorization).not.toBe(auth);
  });
});

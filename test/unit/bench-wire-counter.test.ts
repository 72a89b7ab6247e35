import { describe, expect, it } from 'vitest';
import { operationOf } from '../../bench/wire-counter';

const op = (method: string, url: string, headers: Record<string, string> = {}) =>
  operationOf({ method, url, headers });

describe('wire counter: the operation of a request', () => {
  it('names JSON-protocol operations from X-Amz-Target', () => {
    expect(op('POST', '/', { 'x-amz-target': 'DynamoDB_20120810.UpdateItem' })).toBe('dynamodb UpdateItem');
    expect(op('POST', '/', { 'x-amz-target': 'AmazonSQS.SendMessageBatch' })).toBe('sqs SendMessageBatch');
  });

  it('tells S3 object and bucket operations apart by method, path and query', () => {
    expect(op('PUT', '/b/volumes/v/chunks/0000000001')).toBe('s3 PutObject');
    expect(op('PUT', '/b/k', { 'x-amz-copy-source': '/a/k' })).toBe('s3 CopyObject');
    expect(op('PUT', '/b/k?partNumber=1&uploadId=u')).toBe('s3 UploadPart');
    expect(op('PUT', '/b')).toBe('s3 CreateBucket');
    expect(op('PUT', '/b?versioning')).toBe('s3 PutBucketVersioning');
    expect(op('GET', '/b/k?versionId=x')).toBe('s3 GetObject');
    expect(op('GET', '/b?versions&prefix=p')).toBe('s3 ListObjectVersions');
    expect(op('GET', '/b?list-type=2&prefix=p')).toBe('s3 ListObjects');
    expect(op('HEAD', '/b/k')).toBe('s3 HeadObject');
    expect(op('HEAD', '/b')).toBe('s3 HeadBucket');
    expect(op('POST', '/b?delete')).toBe('s3 DeleteObjects');
    expect(op('DELETE', '/b/k')).toBe('s3 DeleteObject');
  });
});

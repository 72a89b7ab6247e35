import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ACCOUNT, asList, eachSite, flatten, resourcesOf, type Synthesized } from '../fixture';

type Statements = { Statement: unknown[] };

export function storageSuite(s: Synthesized): void {
  const { config } = s;
  describe.each(eachSite(s))('site %s storage', (name, i) => {
    const site = s.sites[i];
    const buckets = resourcesOf(site, 'AWS::S3::Bucket');
    const versioned = Object.entries(buckets).find(([, b]) => b.Properties.VersioningConfiguration);
    if (!versioned) throw new Error(`site ${name} has no versioned bucket`);
    const [chunksId, chunks] = versioned;

    it('keeps chunks in a versioned, encrypted, private, logged bucket that outlives the stack', () => {
      expect(flatten(chunks.Properties.BucketName)).toBe(`${config.prefix}-${ACCOUNT}-${name}`);
      site.hasResource('AWS::S3::Bucket', {
        Properties: Match.objectLike({
          BucketName: chunks.Properties.BucketName,
          VersioningConfiguration: { Status: 'Enabled' },
          BucketEncryption: {
            ServerSideEncryptionConfiguration: [
              { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
            ],
          },
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            BlockPublicPolicy: true,
            IgnorePublicAcls: true,
            RestrictPublicBuckets: true,
          },
          OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
          LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'chunks/' }),
        }),
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
    });

    it('expires only noncurrent versions, after the configured days, and never current ones', () => {
      const rules = (chunks.Properties.LifecycleConfiguration as { Rules: Record<string, unknown>[] }).Rules;
      expect(rules).toContainEqual(
        expect.objectContaining({
          Id: 'expire-unreferenced-versions',
          NoncurrentVersionExpiration: { NoncurrentDays: config.noncurrentVersionExpirationDays },
        }),
      );
      for (const rule of rules) {
        expect(rule).not.toHaveProperty('ExpirationInDays');
        expect(rule).not.toHaveProperty('Transitions');
      }
    });

    it('encrypts every bucket and blocks public access on all of them', () => {
      for (const bucket of Object.values(buckets)) {
        expect(bucket.Properties.BucketEncryption).toBeDefined();
        expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual(
          expect.objectContaining({ BlockPublicPolicy: true, RestrictPublicBuckets: true }),
        );
      }
    });

    it('denies every bucket request without TLS, and below TLS 1.2 on the chunk bucket', () => {
      const policies = Object.values(resourcesOf(site, 'AWS::S3::BucketPolicy'));
      expect(policies).toHaveLength(Object.keys(buckets).length);
      for (const policy of policies) {
        expect((policy.Properties.PolicyDocument as Statements).Statement).toContainEqual(
          expect.objectContaining({
            Effect: 'Deny',
            Action: 's3:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        );
      }
      const chunkPolicy = policies.find((p) => (p.Properties.Bucket as { Ref: string }).Ref === chunksId);
      expect((chunkPolicy?.Properties.PolicyDocument as Statements | undefined)?.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
      );
    });

    it('gives the change-record and copy queues a dead-letter queue, encryption, TLS and 14 days', () => {
      const queues = resourcesOf(site, 'AWS::SQS::Queue');
      const byName = (q: string) => Object.entries(queues).find(([, v]) => v.Properties.QueueName === q);
      for (const queueName of [`${config.prefix}-${name}-changes`, `${config.prefix}-${name}-copy`]) {
        const [, queue] = byName(queueName) ?? [];
        const [dlqId, dlq] = byName(`${queueName}-dlq`) ?? [];
        expect(queue?.Properties).toEqual(
          expect.objectContaining({
            SqsManagedSseEnabled: true,
            MessageRetentionPeriod: 14 * 86_400,
            RedrivePolicy: expect.objectContaining({ deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] } }),
          }),
        );
        expect(dlq?.Properties).toEqual(
          expect.objectContaining({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 86_400 }),
        );
      }
      const queuePolicies = Object.values(resourcesOf(site, 'AWS::SQS::QueuePolicy'));
      expect(queuePolicies.flatMap((p) => asList(p.Properties.Queues))).toHaveLength(
        Object.keys(queues).length,
      );
      for (const p of queuePolicies) {
        expect((p.Properties.PolicyDocument as Statements).Statement).toContainEqual(
          expect.objectContaining({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        );
      }
    });
  });
}

import { describe, expect, it } from 'vitest';
import { type MirrorConfig, parseConfig } from '../../../shared/config';
import { ACCOUNT, flatten, resourcesOf, type Synthesized } from '../fixture';

type Env = { Variables: Record<string, unknown> };

export function mirrorConfigSuite(s: Synthesized): void {
  const { config } = s;
  const envConfigs = (i: number) =>
    Object.values(resourcesOf(s.sites[i], 'AWS::Lambda::Function')).map((f) =>
      flatten((f.Properties.Environment as Env).Variables.VOLMIRROR_CONFIG),
    );
  const configOf = (i: number): MirrorConfig => parseConfig(envConfigs(i)[0]);

  describe('VOLMIRROR_CONFIG', () => {
    it('parses with the app parser and is the same for every function of a site', () => {
      for (let i = 0; i < 2; i++) {
        expect(new Set(envConfigs(i)).size).toBe(1);
        expect(configOf(i)).toEqual(
          expect.objectContaining({ retention: config.retention, leaseSeconds: config.leaseSeconds }),
        );
      }
    });

    it('names the buckets and queues each site stack really creates', () => {
      for (let i = 0; i < 2; i++) {
        for (const [j, site] of configOf(i).sites.entries()) {
          expect(site.name).toBe(config.sites[j].name);
          expect(site.region).toBe(config.sites[j].region);
          const buckets = Object.values(resourcesOf(s.sites[j], 'AWS::S3::Bucket')).map((b) =>
            flatten(b.Properties.BucketName),
          );
          expect(buckets).toContain(site.bucket);
          const queues = Object.values(resourcesOf(s.sites[j], 'AWS::SQS::Queue')).map(
            (q) => q.Properties.QueueName,
          );
          for (const url of [site.changeQueueUrl, site.copyQueueUrl]) {
            expect(url.startsWith(`https://sqs.${site.region}.amazonaws.com/${ACCOUNT}/`)).toBe(true);
            expect(queues).toContain(url.split('/').pop());
          }
        }
      }
    });

    it('points each site at a control-table replica that exists, its own with MRSC', () => {
      const table = Object.values(resourcesOf(s.control, 'AWS::DynamoDB::GlobalTable'))[0].Properties;
      const replicaRegions = (table.Replicas as { Region: string }[]).map((r) => r.Region);
      for (let i = 0; i < 2; i++) {
        const control = configOf(i).control;
        expect(control.table).toBe(table.TableName);
        expect(replicaRegions).toContain(control.region);
        if (config.control.mode === 'mrsc') expect(control.region).toBe(config.sites[i].region);
      }
    });
  });
}

import { describe, expect, it } from 'vitest';
import { resourcesOf, singleRegion, synth, twoRegion } from './fixture';

const tableOf = (config: typeof twoRegion) => {
  const tables = Object.values(resourcesOf(synth(config).control, 'AWS::DynamoDB::GlobalTable'));
  expect(tables).toHaveLength(1);
  return tables[0] as { Properties: Record<string, unknown>; DeletionPolicy?: string };
};

describe('control table', () => {
  it('is an MRSC global table with a replica per site and a witness in the third region', () => {
    const { Properties: p } = tableOf(twoRegion);
    expect(p.MultiRegionConsistency).toBe('STRONG');
    expect(p.GlobalTableWitnesses).toEqual([{ Region: 'us-east-2' }]);
    const replicas = p.Replicas as { Region: string }[];
    expect(replicas.map((r) => r.Region).sort()).toEqual(['us-east-1', 'us-west-2']);
    expect(synth(twoRegion).deployment.control.region).toBe('us-east-1');
  });

  it.each([
    ['two-region (MRSC)', twoRegion],
    ['single-region', singleRegion],
  ])('%s: on demand, PITR and deletion protection on every replica, retained', (_, config) => {
    const table = tableOf(config);
    expect(table.Properties.BillingMode).toBe('PAY_PER_REQUEST');
    expect(table.DeletionPolicy).toBe('Retain');
    for (const replica of table.Properties.Replicas as Record<string, unknown>[]) {
      expect(replica.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
      expect(replica.DeletionProtectionEnabled).toBe(true);
    }
  });

  it.each([
    ['two-region (MRSC)', twoRegion],
    ['single-region', singleRegion],
  ])('%s: pk/sk strings and nothing MRSC refuses (TTL, local indexes)', (_, config) => {
    const { Properties: p } = tableOf(config);
    expect(p.TableName).toBe('volmirror-control');
    expect(p.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(p.TimeToLiveSpecification).toBeUndefined();
    expect(p.LocalSecondaryIndexes).toBeUndefined();
  });

  it('single-region: one regional replica in the configured region, no MRSC', () => {
    const { Properties: p } = tableOf(singleRegion);
    expect(p.MultiRegionConsistency).toBeUndefined();
    expect(p.GlobalTableWitnesses).toBeUndefined();
    expect((p.Replicas as { Region: string }[]).map((r) => r.Region)).toEqual(['eu-central-1']);
  });
});

import { describe, expect, it } from 'vitest';
import { controlRegion } from '../../../cdk/config';
import { resourcesOf, type Synthesized } from '../fixture';

export function controlTableSuite(s: Synthesized): void {
  const { config } = s;
  const tables = Object.values(resourcesOf(s.control, 'AWS::DynamoDB::GlobalTable'));
  const table = tables[0] as { Properties: Record<string, unknown>; DeletionPolicy?: string };
  const p = table?.Properties;
  const replicas = (p?.Replicas ?? []) as Record<string, unknown>[];

  describe(`control table (${config.control.mode})`, () => {
    it('is one table, on demand, retained, in the control region', () => {
      expect(tables).toHaveLength(1);
      expect(p.BillingMode).toBe('PAY_PER_REQUEST');
      expect(table.DeletionPolicy).toBe('Retain');
      expect(s.deployment.control.region).toBe(controlRegion(config));
    });

    it('has PITR and deletion protection on every replica', () => {
      for (const replica of replicas) {
        expect(replica.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
        expect(replica.DeletionProtectionEnabled).toBe(true);
      }
    });

    it('keys pk/sk strings and uses nothing MRSC refuses (TTL, local indexes)', () => {
      expect(p.TableName).toBe(`${config.prefix}-control`);
      expect(p.KeySchema).toEqual([
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ]);
      expect(p.TimeToLiveSpecification).toBeUndefined();
      expect(p.LocalSecondaryIndexes).toBeUndefined();
    });

    const regions = replicas.map((r) => r.Region).sort();
    if (config.control.mode === 'mrsc') {
      const { witnessRegion } = config.control;
      it('is an MRSC global table with a replica per site and a witness in a third region', () => {
        expect(p.MultiRegionConsistency).toBe('STRONG');
        expect(p.GlobalTableWitnesses).toEqual([{ Region: witnessRegion }]);
        expect(regions).toEqual(config.sites.map((site) => site.region).sort());
      });
    } else {
      it('is one regional replica, no MRSC', () => {
        expect(p.MultiRegionConsistency).toBeUndefined();
        expect(p.GlobalTableWitnesses).toBeUndefined();
        expect(regions).toEqual([controlRegion(config)]);
      });
    }
  });
}

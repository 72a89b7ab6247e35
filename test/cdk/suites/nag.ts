import { App, Stack, Validations } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { acknowledgeWildcardResources } from '../../../cdk/nag';
import type { Synthesized } from '../fixture';

export function nagSuite(s: Synthesized): void {
  describe('cdk-nag AwsSolutions', () => {
    it('finds nothing unacknowledged, neither errors nor warnings', () => {
      const report = new AwsSolutionsChecks(s.app).validateScope(s.app);
      expect(report.violations.map((v) => `${v.ruleName} ${v.violatingResources[0]?.constructPath}`)).toEqual(
        [],
      );
    });

    it('has a reason for every acknowledgement', () => {
      const acks = s.app.node
        .findAll()
        .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
        .flatMap((m) => Object.entries(m.data as Record<string, string>));
      expect(acks.length).toBeGreaterThan(0);
      for (const [rule, reason] of acks) expect(reason.length, rule).toBeGreaterThan(30);
    });

    it('acknowledges a wildcard resource only where it is named, so a new one is still reported', () => {
      const probe = new App();
      const stack = new Stack(probe, 'Probe', { env: { region: 'us-east-1', account: '123456789012' } });
      const role = new Role(stack, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
      const named = 'arn:aws:s3:::bucket/volumes/*';
      role.addToPolicy(
        new PolicyStatement({ actions: ['s3:PutObject'], resources: [named, 'arn:aws:s3:::other/*'] }),
      );
      acknowledgeWildcardResources(role, [named], 'a probe of how narrow the acknowledgement is');
      const rules = new AwsSolutionsChecks(probe).validateScope(probe).violations.map((v) => v.ruleName);
      expect(rules).toContain('AwsSolutions-IAM5[Resource::arn:aws:s3:::other/*]');
      expect(rules).not.toContain(`AwsSolutions-IAM5[Resource::${named}]`);
    });
  });
}

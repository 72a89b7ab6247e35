import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { AttributeType, Billing, MultiRegionConsistency, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from './config';
import { DeploymentDashboard } from './dashboard';
import { Names } from './naming';

export interface ControlStackProps extends StackProps {
  config: DeploymentConfig;
}

/**
 * The control table (groups, pairs, roles, leases, recovery points) and the deployment's
 * dashboard. The app uses single-item conditional writes only, with no TTL, no local index
 * and no transactions, which is what an MRSC global table allows.
 */
export class ControlStack extends Stack {
  constructor(scope: Construct, id: string, props: ControlStackProps) {
    super(scope, id, props);
    const { config } = props;
    const names = new Names(this, config);
    const mrsc =
      config.control.mode === 'mrsc'
        ? {
            multiRegionConsistency: MultiRegionConsistency.STRONG,
            replicas: [{ region: config.sites[1].region }],
            witnessRegion: config.control.witnessRegion,
          }
        : {};
    new TableV2(this, 'Table', {
      tableName: names.table,
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billing: Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
      ...mrsc,
    });
    new DeploymentDashboard(this, 'Dashboard', config, names);
  }
}

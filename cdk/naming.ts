import { Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { DeploymentConfig } from './config';

export type FunctionRole = 'api' | 'ingest' | 'copy' | 'sync' | 'scheduler';

/**
 * Physical names and ARNs derived from the config and the account alone: each site's stack
 * names the other site's bucket and queues without a cross-region reference.
 */
export class Names {
  private readonly stack: Stack;

  constructor(
    scope: IConstruct,
    private readonly config: DeploymentConfig,
  ) {
    this.stack = Stack.of(scope);
  }

  private get prefix(): string {
    return this.config.prefix;
  }

  /** Bucket names are global: the account keeps two accounts' deployments apart. */
  bucket(site: string): string {
    return `${this.prefix}-${this.stack.account}-${site}`;
  }

  accessLogBucket(site: string): string {
    return `${this.bucket(site)}-logs`;
  }

  changeQueue(site: string): string {
    return `${this.prefix}-${site}-changes`;
  }

  copyQueue(site: string): string {
    return `${this.prefix}-${site}-copy`;
  }

  deadLetterQueue(queueName: string): string {
    return `${queueName}-dlq`;
  }

  api(site: string): string {
    return `${this.prefix}-${site}`;
  }

  function(site: string, role: FunctionRole): string {
    return `${this.prefix}-${site}-${role}`;
  }

  get table(): string {
    return `${this.prefix}-control`;
  }

  topic(site: string): string {
    return `${this.prefix}-${site}-needs-attention`;
  }

  regionOf(site: string): string {
    const found = this.config.sites.find((s) => s.name === site);
    if (!found) throw new Error(`unknown site ${site}`);
    return found.region;
  }

  bucketArn(site: string): string {
    return `arn:${this.stack.partition}:s3:::${this.bucket(site)}`;
  }

  queueArn(site: string, queueName: string): string {
    return this.stack.formatArn({
      service: 'sqs',
      region: this.regionOf(site),
      resource: queueName,
    });
  }

  queueUrl(site: string, queueName: string): string {
    return `https://sqs.${this.regionOf(site)}.${this.stack.urlSuffix}/${this.stack.account}/${queueName}`;
  }

  /** A region's replica of the control table (MRSC replicas share the name). */
  tableArn(region: string): string {
    return this.stack.formatArn({ service: 'dynamodb', region, resource: 'table', resourceName: this.table });
  }
}

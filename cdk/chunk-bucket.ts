import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type LifecycleRule,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from './nag';

export interface ChunkBucketProps {
  bucketName: string;
  accessLogBucketName: string;
  noncurrentVersionExpirationDays: number | null;
  accessLogDays: number;
}

/** A site's versioned bucket of chunk objects and manifests, with its server access logs. */
export class ChunkBucket extends Construct {
  constructor(scope: Construct, id: string, props: ChunkBucketProps) {
    super(scope, id);
    const accessLogs = new Bucket(this, 'AccessLogs', {
      bucketName: props.accessLogBucketName,
      // Server access log delivery writes with SSE-S3 only.
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      lifecycleRules: [{ id: 'expire-logs', expiration: Duration.days(props.accessLogDays) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(
      accessLogs,
      'S1',
      'This bucket is the target of the chunk bucket server access logs; logging it too would only log log deliveries.',
    );

    new Bucket(this, 'Chunks', {
      bucketName: props.bucketName,
      // Recovery points are per-chunk S3 version ids: versioning is what makes an RP immutable.
      versioned: true,
      // SSE-S3 rather than KMS: the secondary's CopyObject reads the other region's bucket,
      // which with KMS would need a cross-region key grant on every chunk copied.
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'chunks/',
      lifecycleRules: versionRules(props.noncurrentVersionExpirationDays),
      // Chunks are the mirrored data: deleting the stack never deletes them.
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}

/**
 * How this lifecycle keeps every version a recovery point references:
 * - The app deletes versions itself: when an RP expires (count-based retention), it deletes
 *   exactly the chunk versions and the manifest no newer RP references.
 * - What the app never deletes is reclaimed here: chunk versions overwritten between two cuts
 *   (no RP ever referenced them) and the noncurrent versions left by deleted manifests.
 * - A version an RP references turns noncurrent only when a newer write replaces it, and the RP
 *   is needed until `retention` newer RPs commit. So this expiry never takes such a version
 *   while every group commits `retention` RPs within `noncurrentVersionExpirationDays` days,
 *   which the config check ties to the RP-age alarm threshold (retention x threshold must be
 *   shorter), so the alarm fires long before. `null` never expires anything.
 */
function versionRules(noncurrentDays: number | null): LifecycleRule[] {
  const rules: LifecycleRule[] = [
    { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
    // A delete marker whose versions are all gone hides nothing; dropping it keeps listings short.
    { id: 'remove-expired-delete-markers', expiredObjectDeleteMarker: true },
  ];
  if (noncurrentDays !== null) {
    rules.push({
      id: 'expire-unreferenced-versions',
      noncurrentVersionExpiration: Duration.days(noncurrentDays),
    });
  }
  return rules;
}

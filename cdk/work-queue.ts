import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { CHANGE_QUEUE_RETENTION_SECONDS } from '../shared/domain/group-rules';

export interface WorkQueueProps {
  queueName: string;
  deadLetterQueueName: string;
  visibilityTimeout: Duration;
  /** Deliveries before a message moves to the dead-letter queue. */
  maxReceiveCount: number;
}

// SQS's maximum: change records waiting out a long control-table outage must not age out.
// The backlog age limit (group-rules) is checked against this same value.
const RETENTION = Duration.seconds(CHANGE_QUEUE_RETENTION_SECONDS);

/** A work queue with its dead-letter queue: TLS only, encrypted at rest. */
export class WorkQueue extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: WorkQueueProps) {
    super(scope, id);
    this.deadLetterQueue = new Queue(this, 'DeadLetters', {
      queueName: props.deadLetterQueueName,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // A standard queue keeps a message's first enqueue time in its DLQ, so the DLQ needs
      // at least the source's retention to hold what it receives for as long.
      retentionPeriod: RETENTION,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.queue = new Queue(this, 'Queue', {
      queueName: props.queueName,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: RETENTION,
      visibilityTimeout: props.visibilityTimeout,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }
}

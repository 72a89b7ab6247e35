import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';

/**
 * Where events of severity warning and above go besides the control table: deployed, the
 * site's SNS topic (CDK creates one per site); locally nothing, unless a topic is configured.
 * A port, so that use cases never import an SNS client.
 */
export interface Notification {
  groupId: string;
  kind: string;
  severity: 'warning' | 'error';
  message: string;
  at: string;
}

export interface Notifier {
  publish(n: Notification): Promise<void>;
}

/** The subject line SNS e-mail subscribers see (SNS caps subjects at 100 characters). */
export function subjectOf(n: Notification): string {
  return `volmirror ${n.severity}: ${n.kind} (${n.groupId})`.slice(0, 100);
}

/** Collects what would be published: the local default and the port's test double. */
export class MemoryNotifier implements Notifier {
  readonly published: Notification[] = [];
  async publish(n: Notification): Promise<void> {
    this.published.push(n);
  }
}

/** The SNS adapter: one Publish per notification to the site's needs-attention topic. */
export class SnsNotifier implements Notifier {
  constructor(
    private readonly sns: SNSClient,
    private readonly topicArn: string,
  ) {}

  async publish(n: Notification): Promise<void> {
    await this.sns.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Subject: subjectOf(n),
        Message: JSON.stringify({
          groupId: n.groupId,
          kind: n.kind,
          severity: n.severity,
          message: n.message,
          at: n.at,
        }),
        // Subscribers filter on these (a filter policy on severity or on one group).
        MessageAttributes: {
          severity: { DataType: 'String', StringValue: n.severity },
          groupId: { DataType: 'String', StringValue: n.groupId },
        },
      }),
    );
  }
}

import { createHash } from 'node:crypto';
import type { SQSEvent } from 'aws-lambda';
import type { QueueMessage } from '../shared/aws/queues';

/**
 * The event Lambda's SQS trigger would hand the function for these received messages. The
 * queue's ARN is read off its URL (`.../<account>/<name>`); the send and first-receive times,
 * which the receive call does not return, are the receive time.
 */
export function sqsEvent(queueUrl: string, region: string, messages: QueueMessage[]): SQSEvent {
  const [account, name] = new URL(queueUrl).pathname.split('/').filter(Boolean).slice(-2);
  const now = String(Date.now());
  return {
    Records: messages.map((m) => ({
      messageId: m.id,
      receiptHandle: m.receiptHandle,
      body: m.body,
      attributes: {
        ApproximateReceiveCount: String(m.receiveCount),
        SentTimestamp: now,
        SenderId: account,
        ApproximateFirstReceiveTimestamp: now,
      },
      messageAttributes: {},
      md5OfBody: createHash('md5').update(m.body).digest('hex'),
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:${region}:${account}:${name}`,
      awsRegion: region,
    })),
  };
}

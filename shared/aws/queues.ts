import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

export interface QueueMessage {
  id: string;
  receiptHandle: string;
  body: string;
  receiveCount: number;
}

/** One SQS queue: the change-record queue or the copy queue of a site. */
export class Queue {
  constructor(
    private readonly sqs: SQSClient,
    readonly url: string,
  ) {}

  static async create(sqs: SQSClient, name: string, visibilityTimeoutSeconds: number): Promise<string> {
    const out = await sqs.send(
      new CreateQueueCommand({
        QueueName: name,
        Attributes: { VisibilityTimeout: String(visibilityTimeoutSeconds) },
      }),
    );
    if (!out.QueueUrl) throw new Error(`queue ${name} was not created`);
    return out.QueueUrl;
  }

  /** Sends one message; `signal` aborts it (and its retries), e.g. when a writer's lease ends. */
  async send(body: string, signal?: AbortSignal): Promise<void> {
    await this.sqs.send(new SendMessageCommand({ QueueUrl: this.url, MessageBody: body }), {
      abortSignal: signal,
    });
  }

  /** Sends many messages, ten per request (the SQS batch limit). */
  async sendAll(bodies: string[]): Promise<void> {
    for (let i = 0; i < bodies.length; i += 10) {
      const entries = bodies.slice(i, i + 10).map((body, j) => ({ Id: String(j), MessageBody: body }));
      const out = await this.sqs.send(new SendMessageBatchCommand({ QueueUrl: this.url, Entries: entries }));
      if (out.Failed?.length)
        throw new Error(`SQS refused ${out.Failed.length} messages: ${out.Failed[0].Message}`);
    }
  }

  async receive(max: number, waitSeconds: number): Promise<QueueMessage[]> {
    const out = await this.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.url,
        MaxNumberOfMessages: Math.min(10, max),
        WaitTimeSeconds: waitSeconds,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    return (out.Messages ?? []).map((m) => ({
      id: m.MessageId ?? '',
      receiptHandle: m.ReceiptHandle ?? '',
      body: m.Body ?? '',
      receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
    }));
  }

  async delete(receiptHandle: string): Promise<void> {
    await this.sqs.send(new DeleteMessageCommand({ QueueUrl: this.url, ReceiptHandle: receiptHandle }));
  }

  /** Deletes handled messages, ten per request. */
  async deleteAll(receiptHandles: string[]): Promise<void> {
    for (let i = 0; i < receiptHandles.length; i += 10) {
      const entries = receiptHandles.slice(i, i + 10).map((r, j) => ({ Id: String(j), ReceiptHandle: r }));
      await this.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: this.url, Entries: entries }));
    }
  }

  async release(receiptHandle: string, delaySeconds: number): Promise<void> {
    await this.sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.url,
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: delaySeconds,
      }),
    );
  }

  /** Messages waiting plus messages being handled. */
  async depth(): Promise<number> {
    const out = await this.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    const a = out.Attributes ?? {};
    return Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0);
  }
}

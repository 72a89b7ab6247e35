import type { Queue } from '../../shared/aws/queues';
import type { FaultCounts } from './fault-counts';

export type DeliveryMode = 'normal' | 'duplicate' | 'hold';

/** Whose messages a wrapped queue carries: the summary counts each on its own rows. */
export type MessageKind = 'deliveries' | 'copy-tasks';

/**
 * Message delivery as SQS may do it: `duplicate` sends every message twice, `hold` accepts
 * messages and delivers them only on `release`, in an order drawn from the seed. It applies to
 * change messages and to copy tasks alike.
 */
export class DeliveryFaults {
  mode: DeliveryMode = 'normal';
  private held: { queue: Queue; body: string; kind: MessageKind }[] = [];

  constructor(
    private readonly random: () => number,
    private readonly counts: FaultCounts,
  ) {}

  get heldCount(): number {
    return this.held.length;
  }

  wrap(queue: Queue, kind: MessageKind = 'deliveries'): Queue {
    const wrapped = Object.create(queue) as Queue;
    wrapped.send = (body: string) => this.send(queue, body, kind);
    wrapped.sendAll = async (bodies: string[]) => {
      for (const body of bodies) await this.send(queue, body, kind);
    };
    return wrapped;
  }

  private async send(queue: Queue, body: string, kind: MessageKind): Promise<void> {
    if (this.mode === 'hold') {
      this.held.push({ queue, body, kind });
      this.counts.add(`held-${kind}`);
      return;
    }
    await queue.send(body);
    if (this.mode === 'duplicate') {
      await queue.send(body);
      this.counts.add(`duplicate-${kind}`);
    }
  }

  /** Delivers the held messages, shuffled; those that cannot be sent yet stay held. */
  async release(): Promise<void> {
    const batch = this.held;
    this.held = [];
    for (let i = batch.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [batch[i], batch[j]] = [batch[j], batch[i]];
    }
    for (const [i, m] of batch.entries()) {
      try {
        await m.queue.send(m.body);
        this.counts.add(`released-${m.kind}`);
      } catch {
        this.held.push(...batch.slice(i));
        return;
      }
    }
  }
}

import type { Queue } from '../../shared/aws/queues';
import type { FaultCounts } from './fault-counts';

export type DeliveryMode = 'normal' | 'duplicate' | 'hold';

/**
 * Change-message delivery as SQS may do it: `duplicate` sends every message twice, `hold`
 * accepts messages and delivers them only on `release`, in an order drawn from the seed.
 */
export class DeliveryFaults {
  mode: DeliveryMode = 'normal';
  private held: { queue: Queue; body: string }[] = [];

  constructor(
    private readonly random: () => number,
    private readonly counts: FaultCounts,
  ) {}

  get heldCount(): number {
    return this.held.length;
  }

  wrap(queue: Queue): Queue {
    const wrapped = Object.create(queue) as Queue;
    wrapped.send = (body: string) => this.send(queue, body);
    wrapped.sendAll = async (bodies: string[]) => {
      for (const body of bodies) await this.send(queue, body);
    };
    return wrapped;
  }

  private async send(queue: Queue, body: string): Promise<void> {
    if (this.mode === 'hold') {
      this.held.push({ queue, body });
      this.counts.add('held-deliveries');
      return;
    }
    await queue.send(body);
    if (this.mode === 'duplicate') {
      await queue.send(body);
      this.counts.add('duplicate-deliveries');
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
        this.counts.add('released-deliveries');
      } catch {
        this.held.push(...batch.slice(i));
        return;
      }
    }
  }
}

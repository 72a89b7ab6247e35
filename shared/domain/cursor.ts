/**
 * A sorted stream read one entry at a time. `peek` never consumes, so an operator built on
 * cursors consumes its inputs exactly as far as its own output was taken: a step can stop
 * after any entry and save the positions of its leaf cursors.
 */
export interface Cursor<T> {
  peek(): Promise<T | undefined>;
  take(): Promise<T | undefined>;
}

/** One entry of a stored stream and the position just after it. */
export interface Positioned<T, P> {
  value: T;
  next: P;
}

/** A cursor over a stored stream opened at a saved position; `position` is where to resume. */
export class StreamCursor<T, P> implements Cursor<T> {
  private it?: AsyncIterator<Positioned<T, P>>;
  private head?: Positioned<T, P> | null;

  constructor(
    private readonly open: (from: P) => AsyncIterable<Positioned<T, P>>,
    private pos: P,
  ) {}

  async peek(): Promise<T | undefined> {
    if (this.head === undefined) {
      this.it ??= this.open(this.pos)[Symbol.asyncIterator]();
      const r = await this.it.next();
      this.head = r.done ? null : r.value;
    }
    return this.head?.value;
  }

  async take(): Promise<T | undefined> {
    const value = await this.peek();
    if (this.head) {
      this.pos = this.head.next;
      this.head = undefined;
    }
    return value;
  }

  /** Where the first entry not yet taken is. */
  position(): P {
    return this.pos;
  }

  /** Releases the underlying stream (an open S3 body) when a step stops midway. */
  async close(): Promise<void> {
    await this.it?.return?.();
  }
}

/** A cursor over an in-memory sorted list (tests, small inputs). */
export function listCursor<T>(items: readonly T[]): Cursor<T> {
  let i = 0;
  return {
    peek: async () => items[i],
    take: async () => items[i++],
  };
}

/** Takes every entry left, in order. */
export async function drain<T>(c: Cursor<T>, max = Number.POSITIVE_INFINITY): Promise<T[]> {
  const out: T[] = [];
  while (out.length < max) {
    const v = await c.take();
    if (v === undefined) break;
    out.push(v);
  }
  return out;
}

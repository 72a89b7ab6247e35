import fc from 'fast-check';

/**
 * Exactly `length` steps drawn from `step`, as `fc.array` draws them (so a seed draws the same
 * list as before shrinking existed), that shrink by removing steps: halves first, then
 * quarters, down to single steps, the last ones first (steps after the failure are the likeliest
 * to be useless). A step is never simplified in place: a shorter list is what a reader needs.
 * The candidates depend on the list alone, so fast-check's path replays a shrunk case.
 */
export class StepList<T> extends fc.Arbitrary<T[]> {
  private readonly drawn: fc.Arbitrary<T[]>;

  constructor(step: fc.Arbitrary<T>, length: number) {
    super();
    this.drawn = fc.array(step, { minLength: length, maxLength: length });
  }

  generate(mrng: fc.Random, biasFactor: number | undefined): fc.Value<T[]> {
    return new fc.Value(this.drawn.generate(mrng, biasFactor).value_, undefined);
  }

  canShrinkWithoutContext(value: unknown): value is T[] {
    return Array.isArray(value);
  }

  shrink(value: T[]): fc.Stream<fc.Value<T[]>> {
    return new fc.Stream(removals(value)).map((v) => new fc.Value(v, undefined));
  }
}

/** Every list with one contiguous run of steps removed, longest runs first, tail first. */
export function* removals<T>(steps: T[]): Generator<T[]> {
  const n = steps.length;
  const seen = new Set<string>();
  for (let size = Math.ceil(n / 2); size >= 1; size = size === 1 ? 0 : Math.ceil(size / 2)) {
    for (let end = n; end > 0; end -= size) {
      const start = Math.max(0, end - size);
      const key = `${start}:${end}`;
      if (seen.has(key)) continue;
      seen.add(key);
      yield [...steps.slice(0, start), ...steps.slice(end)];
    }
  }
}

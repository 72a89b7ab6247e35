import { type Command, InvalidArgumentError } from 'commander';
import { parseSize } from '../shared/domain/sizes';

/** A command that, like every volmirror command, takes --json (and --help, from commander). */
export function leaf(parent: Command, spec: string, description: string): Command {
  return parent
    .command(spec)
    .description(description)
    .option('--json', 'machine-readable JSON on stdout (nothing else is printed there)');
}

/** Sizes as storage people write them: 256MiB, 1GiB, or bytes. Rejected by commander with the reason. */
export function sizeArg(value: string): number {
  try {
    return parseSize(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

export function secondsArg(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidArgumentError('expected a whole number of seconds greater than 0');
  }
  return n;
}

export function countArg(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidArgumentError('expected a whole number greater than 0');
  }
  return n;
}

/**
 * Runs `onInterrupt` on Ctrl-C while long work is under way (stop a progress bar, close a
 * gateway); a second Ctrl-C exits at once. Returns the function that removes the handler.
 */
export function onInterrupt(onInterrupt: () => void): () => void {
  let seen = false;
  const handler = () => {
    if (seen) process.exit(130);
    seen = true;
    onInterrupt();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Harness } from './harness';

export interface ControlCall {
  commandName?: string;
  input: Record<string, unknown>;
  /** The response, for `after` hooks. */
  output?: Record<string, unknown>;
}

/**
 * Runs `before` and `after` around every request of the control-table client, to fault one
 * precise step of a protocol (a write seen by its key or attribute names).
 */
export function hookControl(
  h: Harness,
  name: string,
  hooks: { before?: (c: ControlCall) => Promise<void>; after?: (c: ControlCall) => Promise<void> },
): void {
  const stack = h.clients.control.middlewareStack as unknown as {
    add(mw: unknown, opts: { step: string; name: string }): void;
  };
  stack.add(
    (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) =>
      async (args: { input: Record<string, unknown> }) => {
        const call: ControlCall = { commandName: context.commandName, input: args.input };
        await hooks.before?.(call);
        const out = await next(args);
        await hooks.after?.({ ...call, output: (out as { output?: Record<string, unknown> }).output });
        return out;
      },
    { step: 'initialize', name },
  );
}

/** The commit's conditional group write: the UpdateItem that sets lastRp. */
export const isCommitWrite = (c: ControlCall) =>
  c.commandName === 'UpdateItemCommand' && JSON.stringify(c.input).includes('"lastRp"');

/**
 * The values an UpdateItem writes to one sync's job item (unmarshalled), or undefined when
 * the call is anything else: lets a test pick a step by the checkpoint it writes.
 */
export function jobWriteValues(c: ControlCall, syncId: string): Record<string, unknown> | undefined {
  if (c.commandName !== 'UpdateItemCommand') return undefined;
  const key = unmarshall(c.input.Key as Record<string, AttributeValue>);
  if (key.sk !== `SYNC#${syncId}`) return undefined;
  return unmarshall((c.input.ExpressionAttributeValues ?? {}) as Record<string, AttributeValue>);
}

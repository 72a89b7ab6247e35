import type { Harness } from './harness';

export interface ControlCall {
  commandName?: string;
  input: Record<string, unknown>;
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
        const call = { commandName: context.commandName, input: args.input };
        await hooks.before?.(call);
        const out = await next(args);
        await hooks.after?.(call);
        return out;
      },
    { step: 'initialize', name },
  );
}

/** The commit's conditional group write: the UpdateItem that sets lastRp. */
export const isCommitWrite = (c: ControlCall) =>
  c.commandName === 'UpdateItemCommand' && JSON.stringify(c.input).includes('"lastRp"');

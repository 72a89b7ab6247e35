import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { SERVICE_NAME } from '../shared/telemetry-names';

/** What the handlers learn of their invocation: Lambda's context, or the local runtime's stand-in. */
export type InvocationContext = Partial<Pick<Context, 'awsRequestId'>>;

/**
 * The process's one Logger: structured JSON lines on stdout, at the level POWERTOOLS_LOG_LEVEL
 * or LOG_LEVEL names (Lambda's application log level caps it). Handlers take it as an option,
 * so a test or the local runtime can hand them another.
 */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME || SERVICE_NAME });

/**
 * A child of `log` carrying one invocation's keys. A child rather than appendKeys on the shared
 * logger: the local runtime runs several invocations of a handler at once, and a child's keys
 * end with it, so no key reaches another invocation.
 */
export function invocationLogger(
  log: Logger,
  context: InvocationContext | undefined,
  keys: Record<string, string | number | undefined> = {},
): Logger {
  const child = log.createChild();
  child.appendKeys({ awsRequestId: context?.awsRequestId, ...keys });
  return child;
}

/**
 * The logger of an interactive local stack (`volmirror up`, the demo): warnings and errors only
 * unless POWERTOOLS_LOG_LEVEL or LOG_LEVEL asks for more, because its stdout is the user's
 * terminal or a `--json` reader, where per-task INFO lines do not belong.
 */
export function interactiveLogger(): Logger {
  const level = process.env.POWERTOOLS_LOG_LEVEL || process.env.LOG_LEVEL || 'WARN';
  return new Logger({ serviceName: SERVICE_NAME, logLevel: level as 'WARN' });
}

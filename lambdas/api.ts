import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { type ApiResponse, route, routeMatched } from '../shared/api/router';
import type { Deps } from '../shared/deps';
import { lambdaDeps } from './deps';
import { type InvocationContext, invocationLogger, logger } from './observability';

/**
 * API Gateway REST API proxy integration; IAM (SigV4) auth is enforced by API Gateway. Every
 * deployed method is its own resource, so the event names the route (`resource`) and carries
 * its path parameters decoded; the percent-encoded `path` is the fallback.
 */
export function makeApiHandler(
  getDeps: () => Deps,
  options: { logger?: Logger } = {},
): (event: APIGatewayProxyEvent, context?: InvocationContext) => Promise<APIGatewayProxyResult> {
  return async (event, context) => {
    const body =
      event.body !== null && event.isBase64Encoded
        ? Buffer.from(event.body, 'base64').toString('utf8')
        : event.body;
    const res: ApiResponse = event.resource
      ? await routeMatched(getDeps(), {
          method: event.httpMethod,
          resource: event.resource,
          params: event.pathParameters,
          body,
        })
      : await route(getDeps(), { method: event.httpMethod, path: event.path, body });
    if (res.failure) {
      invocationLogger(options.logger ?? logger, context, { path: res.failure.path }).error(
        'request failed',
        res.failure.error as Error,
      );
    }
    return {
      statusCode: res.status,
      headers: { ...(res.body !== undefined && { 'content-type': 'application/json' }), ...res.headers },
      body: res.body === undefined ? '' : JSON.stringify(res.body),
    };
  };
}

export const handler = makeApiHandler(lambdaDeps);

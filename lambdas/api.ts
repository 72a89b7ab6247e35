import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { route } from '../shared/api/router';
import { lambdaDeps } from './deps';

/** API Gateway REST API proxy integration; IAM (SigV4) auth is enforced by API Gateway. */
export async function handler(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const res = await route(lambdaDeps(), { method: event.httpMethod, path: event.path, body: event.body });
  return {
    statusCode: res.status,
    headers: { 'content-type': 'application/json' },
    body: res.body === undefined ? '' : JSON.stringify(res.body),
  };
}

/**
 * The API's contract: one zod schema per request body, path and response. The router
 * validates with them, the OpenAPI document and API Gateway's request models are made from
 * them, and the CLI's client is typed by them.
 */
import { z } from 'zod';

export { ErrorBody } from './fields';
export * from './groups';
export * from './pairs';
export { parseWith } from './rules';
export * from './syncs';
export * from './volumes';

export const Health = z.object({ status: z.literal('ok') }).openapi('Health');

export const OpenApiDocument = z
  .record(z.string(), z.unknown())
  .describe('this document: OpenAPI 3.1, made from the schemas the API validates with');

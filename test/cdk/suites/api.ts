import { describe, expect, it } from 'vitest';
import { ROUTES as DEPLOYED_ROUTES, requestModel } from '../../../cdk/routes';
import { ROUTES } from '../../../shared/api/router';
import { eachSite, resourcesOf, type Synthesized } from '../fixture';

/** `METHOD /pattern` of every route the shared router serves: the project's own API table. */
const IMPLEMENTED = ROUTES.map((r) => `${r.method} ${r.pattern}`);

/** Routes that answer without auth: /health by contract, and the OpenAPI document. */
const PUBLIC = ['GET /health', 'GET /openapi.json'];

/** The body schema of every route that takes one, from the router. */
const BODIES = new Map<string, NonNullable<(typeof DEPLOYED_ROUTES)[number]['body']>>();
for (const r of ROUTES) if (r.body) BODIES.set(`${r.method} ${r.pattern}`, r.body);

export function apiSuite(s: Synthesized): void {
  describe.each(eachSite(s))('site %s REST API', (_, i) => {
    const site = s.sites[i];
    const methods = Object.values(resourcesOf(site, 'AWS::ApiGateway::Method'));
    const resources = resourcesOf(site, 'AWS::ApiGateway::Resource');
    const pathOf = (resourceId: unknown): string => {
      const ref = (resourceId as { Ref?: string }).Ref;
      if (!ref) return '';
      const r = resources[ref].Properties;
      return `${pathOf(r.ParentId)}/${r.PathPart}`;
    };
    const deployed = new Map(
      methods.map((m) => [
        `${m.Properties.HttpMethod} ${pathOf(m.Properties.ResourceId) || '/'}`,
        m.Properties,
      ]),
    );

    it('serves every route of the shared router, and nothing else', () => {
      expect([...deployed.keys()].sort()).toEqual([...IMPLEMENTED].sort());
    });

    it('requires IAM (SigV4) auth on every method except GET /health and GET /openapi.json', () => {
      for (const [route, m] of deployed) {
        expect(m.AuthorizationType, route).toBe(PUBLIC.includes(route) ? 'NONE' : 'AWS_IAM');
      }
    });

    it('validates every request: path parameters, and the JSON body where there is one', () => {
      for (const [route, m] of deployed) {
        expect(m.RequestValidatorId, route).toBeDefined();
        if (BODIES.has(route)) expect(m.RequestModels, route).toHaveProperty(['application/json']);
        for (const [, param] of route.matchAll(/\{([^}]+)\}/g)) {
          expect(m.RequestParameters, route).toHaveProperty([`method.request.path.${param}`], true);
        }
      }
      site.hasResourceProperties('AWS::ApiGateway::RequestValidator', {
        ValidateRequestBody: true,
        ValidateRequestParameters: true,
      });
    });

    it("checks every POST and PATCH body against a model made from the router's own schema", () => {
      const models = resourcesOf(site, 'AWS::ApiGateway::Model');
      const bodyRoutes = [...deployed].filter(([route]) => /^(POST|PATCH) /.test(route) && BODIES.has(route));
      expect(bodyRoutes.map(([route]) => route).sort()).toEqual(
        [...BODIES.keys()].filter((r) => /^(POST|PATCH) /.test(r)).sort(),
      );
      for (const [route, m] of bodyRoutes) {
        expect(m.RequestValidatorId, route).toBeDefined();
        const ref = (m.RequestModels as Record<string, { Ref: string }>)['application/json'].Ref;
        const schema = models[ref].Properties.Schema as Record<string, unknown>;
        const body = BODIES.get(route);
        expect(body, route).toBeDefined();
        if (!body) continue;
        expect(schema, route).toMatchObject({
          $schema: 'http://json-schema.org/draft-04/schema#',
          ...requestModel(body),
        });
        // Only draft-4 keywords API Gateway knows, at every depth.
        expect(JSON.stringify(schema), route).not.toMatch(/"(format|default|const|\$ref|examples?)":/);
      }
      // The deployment's bodies are the router's very schemas, not copies.
      for (const r of DEPLOYED_ROUTES) {
        const served = ROUTES.find((x) => x.method === r.method && x.pattern === r.path);
        if (served) expect(r.body, `${r.method} ${r.path}`).toBe(served.body);
      }
      // A wrong type is refused by the gateway before the function runs.
      const volume = BODIES.get('POST /volumes');
      expect(volume && requestModel(volume)).toMatchObject({
        required: ['name', 'site', 'sizeBytes'],
        additionalProperties: false,
        properties: { name: { type: 'string' } },
      });
    });

    it('hands every method to the API function as a proxy integration', () => {
      for (const m of deployed.values()) {
        const integration = m.Integration as { Type: string; Uri: unknown };
        expect(integration.Type).toBe('AWS_PROXY');
        expect(JSON.stringify(integration.Uri)).toContain('ApiFunction');
      }
    });

    it('throttles, logs execution errors and writes JSON access logs with the caller', () => {
      const stage = Object.values(resourcesOf(site, 'AWS::ApiGateway::Stage'))[0].Properties;
      expect(stage.MethodSettings).toEqual([
        expect.objectContaining({
          HttpMethod: '*',
          ResourcePath: '/*',
          LoggingLevel: 'ERROR',
          DataTraceEnabled: false,
          ThrottlingRateLimit: s.config.api.rateLimit,
          ThrottlingBurstLimit: s.config.api.burstLimit,
        }),
      ]);
      const access = stage.AccessLogSetting as { DestinationArn: unknown; Format: string };
      expect(access.DestinationArn).toBeDefined();
      expect(JSON.parse(access.Format)).toEqual(
        expect.objectContaining({ caller: '$context.identity.userArn', status: '$context.status' }),
      );
    });

    it("answers the gateway's own errors in the contract's error shape", () => {
      const responses = Object.values(resourcesOf(site, 'AWS::ApiGateway::GatewayResponse'));
      const types = responses.map((r) => r.Properties.ResponseType);
      expect(types).toEqual(
        expect.arrayContaining(['BAD_REQUEST_BODY', 'ACCESS_DENIED', 'DEFAULT_4XX', 'DEFAULT_5XX']),
      );
      for (const r of responses) {
        const template = (r.Properties.ResponseTemplates as Record<string, string>)['application/json'];
        expect(template).toMatch(
          /^\{"error":\{"code":"[a-z-]+","message":\$context\.error\.messageString\}\}$/,
        );
      }
    });
  });
}

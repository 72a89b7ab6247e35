import { describe, expect, it } from 'vitest';
import { ROUTES } from '../../../shared/api/router';
import { eachSite, resourcesOf, type Synthesized } from '../fixture';

/** `METHOD /pattern` of every route the shared router serves: the project's own API table. */
const IMPLEMENTED = ROUTES.map((r) => `${r.method} ${r.pattern}`);

/**
 * Contract routes the deployment declares before the router serves them (API Gateway hands
 * them to the function, which answers 404 until then). Each leaves this list when it lands.
 */
const DEPLOYED_AHEAD = [
  'POST /groups/{groupId}/role',
  'POST /groups/{groupId}/recovery-points/{rpId}/clones',
];

const BODIES = [
  'POST /volumes',
  'POST /groups',
  'PATCH /groups/{groupId}',
  'POST /groups/{groupId}/pairs',
  'POST /groups/{groupId}/role',
];

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

    it('serves every route of the shared router, and only the routes still to land besides', () => {
      for (const r of DEPLOYED_AHEAD)
        expect(IMPLEMENTED, `${r} is served now: drop it from DEPLOYED_AHEAD`).not.toContain(r);
      expect([...deployed.keys()].sort()).toEqual([...IMPLEMENTED, ...DEPLOYED_AHEAD].sort());
    });

    it('requires IAM (SigV4) auth on every method except GET /health', () => {
      for (const [route, m] of deployed) {
        expect(m.AuthorizationType, route).toBe(route === 'GET /health' ? 'NONE' : 'AWS_IAM');
      }
    });

    it('validates every request: path parameters, and the JSON body where there is one', () => {
      for (const [route, m] of deployed) {
        expect(m.RequestValidatorId, route).toBeDefined();
        if (BODIES.includes(route)) expect(m.RequestModels, route).toHaveProperty(['application/json']);
        for (const [, param] of route.matchAll(/\{([^}]+)\}/g)) {
          expect(m.RequestParameters, route).toHaveProperty([`method.request.path.${param}`], true);
        }
      }
      site.hasResourceProperties('AWS::ApiGateway::RequestValidator', {
        ValidateRequestBody: true,
        ValidateRequestParameters: true,
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

import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { checkConfig, type DeploymentConfig } from '../../cdk/config';
import { buildDeployment, type Deployment } from '../../cdk/deployment';
import cdkJson from '../../cdk.json';

export interface Synthesized {
  config: DeploymentConfig;
  app: App;
  deployment: Deployment;
  control: Template;
  /** Site templates, in config order. */
  sites: Template[];
}

/**
 * The app exactly as `cdk synth` builds it: cdk.json's context, real esbuild bundling, and the
 * cdk-nag plugin, which makes synthesis throw on any unacknowledged finding. A shipped config
 * plus an alert address, so the topic subscriptions show.
 */
export function synth(shipped: DeploymentConfig): Synthesized {
  const config = { ...shipped, alerts: { ...shipped.alerts, emails: ['ops@example.com'] } };
  const app = new App({ context: cdkJson.context });
  const deployment = buildDeployment(app, checkConfig(config));
  return {
    config,
    app,
    deployment,
    control: Template.fromStack(deployment.control),
    sites: deployment.sites.map((s) => Template.fromStack(s)),
  };
}

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

/** A template's resources of one type, by logical id. */
export function resourcesOf(template: Template, type: string): Resources {
  return template.findResources(type) as Resources;
}

export const ACCOUNT = '123456789012';

// The account is a deploy-time pseudo parameter when no account is configured.
const PSEUDO: Record<string, string> = {
  'AWS::AccountId': ACCOUNT,
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::Partition': 'aws',
};

/** A value with its pseudo-parameter references filled in and its joins joined. */
export function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return '';
  const v = value as Record<string, unknown>;
  if (Array.isArray(v['Fn::Join'])) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(flatten).join(sep);
  }
  if (typeof v.Ref === 'string') return PSEUDO[v.Ref] ?? `<${v.Ref}>`;
  if (Array.isArray(v['Fn::GetAtt'])) return `<${(v['Fn::GetAtt'] as string[]).join('.')}>`;
  return JSON.stringify(value);
}

export const asList = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);

/** `[name, index]` of each site, for describe.each. */
export const eachSite = (s: Synthesized) => s.config.sites.map((site, i) => [site.name, i] as const);

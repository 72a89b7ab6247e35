import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import cdkJson from '../../cdk.json';
import { checkConfig, type DeploymentConfig } from '../../cdk/config';
import singleRegion from '../../cdk/config/single-region';
import twoRegion from '../../cdk/config/two-region';
import { buildDeployment, type Deployment } from '../../cdk/deployment';

export { singleRegion, twoRegion };

export interface Synthesized {
  app: App;
  deployment: Deployment;
  control: Template;
  /** Site templates, in config order. */
  sites: Template[];
}

const cache = new Map<DeploymentConfig, Synthesized>();

/**
 * The app exactly as `cdk synth` builds it (cdk.json's context, real esbuild bundling, the
 * cdk-nag plugin, which makes synthesis throw on any unacknowledged finding), once per config
 * and test file.
 */
export function synth(config: DeploymentConfig): Synthesized {
  let found = cache.get(config);
  if (!found) {
    const app = new App({ context: cdkJson.context });
    const deployment = buildDeployment(app, checkConfig(config));
    found = {
      app,
      deployment,
      control: Template.fromStack(deployment.control),
      sites: deployment.sites.map((s) => Template.fromStack(s)),
    };
    cache.set(config, found);
  }
  return found;
}

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

/** A template's resources of one type, by logical id. */
export function resourcesOf(template: Template, type: string): Resources {
  return template.findResources(type) as Resources;
}

// The account is a deploy-time pseudo parameter when no account is configured.
const PSEUDO: Record<string, string> = {
  'AWS::AccountId': '123456789012',
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::Partition': 'aws',
};

/** A value with its pseudo-parameter references filled in and its joins joined. */
export function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
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

export const stackOf = (s: Synthesized, site: number): Stack => s.deployment.sites[site];

import { type App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { controlRegion, type DeploymentConfig } from './config';
import { ControlStack } from './control-stack';
import { SiteStack } from './site-stack';

export interface Deployment {
  control: ControlStack;
  sites: SiteStack[];
}

/** The control stack and one stack per site, checked by cdk-nag's AwsSolutions pack at synth. */
export function buildDeployment(app: App, config: DeploymentConfig): Deployment {
  const env = (region: string) => ({ account: config.account ?? process.env.CDK_DEFAULT_ACCOUNT, region });
  const control = new ControlStack(app, `${config.prefix}-control`, {
    env: env(controlRegion(config)),
    description: 'volmirror control table and dashboard',
    config,
  });
  const sites = config.sites.map((site) => {
    const stack = new SiteStack(app, `${config.prefix}-site-${site.name}`, {
      env: env(site.region),
      description: `volmirror site ${site.name}`,
      config,
      site,
    });
    // Only for deploy order: the functions find the table by name, not by reference.
    stack.addStackDependency(control);
    return stack;
  });
  Tags.of(app).add('volmirror:deployment', config.prefix);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { control, sites };
}

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App } from 'aws-cdk-lib';
import { checkConfig, type DeploymentConfig } from './config';
import { buildDeployment } from './deployment';

// `cdk synth -c volmirror:config=cdk/config/single-region.ts` picks another typed config file.
const app = new App();
const file: string = app.node.tryGetContext('volmirror:config') ?? 'cdk/config/two-region.ts';
const { default: config } = (await import(pathToFileURL(resolve(file)).href)) as {
  default: DeploymentConfig;
};
buildDeployment(app, checkConfig(config));

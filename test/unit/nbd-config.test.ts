import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import twoRegion from '../../cdk/config/two-region';
import { mirrorConfigFor } from '../../cdk/mirror-config';
import type { Names } from '../../cdk/naming';
import { CONFIG_FILE_ENV, parseDeploymentConfig, resolveDataPlaneConfig } from '../../cli/deployment-config';
import type { LocalConfig } from '../../local/local-config';
import type { MirrorConfig } from '../../shared/config';

const site = (name: string, region: string) => ({
  name,
  region,
  bucket: `vm-123456789012-${name}`,
  changeQueueUrl: `https://sqs.${region}.amazonaws.com/123456789012/vm-${name}-changes`,
  copyQueueUrl: `https://sqs.${region}.amazonaws.com/123456789012/vm-${name}-copy`,
});

/** What a deployed function's VOLMIRROR_CONFIG holds (cdk/mirror-config.ts). */
const deployed = {
  sites: [site('east', 'us-east-1'), site('west', 'us-west-2')],
  control: { region: 'us-east-1', table: 'vm-control' },
  leaseSeconds: 10,
  retention: 8,
};

const dir = mkdtempSync(join(tmpdir(), 'volmirror-nbd-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

const localStack = (pid: number): LocalConfig =>
  ({
    pid,
    config: { ...deployed, control: { ...deployed.control, table: 'local' } },
  }) as unknown as LocalConfig;
const noLocal = () => undefined;
const env = (vars: Record<string, string> = {}): NodeJS.ProcessEnv => ({ VOLMIRROR_HOME: dir, ...vars });

describe('where nbd serve finds its storage', () => {
  it('reads the deployment config named by --config, credentials left to the default chain', () => {
    const path = file('deployed.json', deployed);
    const got = resolveDataPlaneConfig(path, env(), noLocal);
    expect(got.source).toBe(path);
    expect(got.config).toEqual(deployed);
  });

  it('accepts every VOLMIRROR_CONFIG the CDK stacks give their functions', () => {
    // The physical names as CloudFormation resolves them in account 123456789012.
    const regionOf = (site: string) => twoRegion.sites.find((x) => x.name === site)?.region;
    const names = {
      table: 'volmirror-control',
      bucket: (site: string) => `volmirror-123456789012-${site}`,
      changeQueue: (site: string) => `volmirror-${site}-changes`,
      copyQueue: (site: string) => `volmirror-${site}-copy`,
      queueUrl: (site: string, queue: string) =>
        `https://sqs.${regionOf(site)}.amazonaws.com/123456789012/${queue}`,
    } as unknown as Names;
    for (const here of twoRegion.sites) {
      const config = mirrorConfigFor(twoRegion, names, here);
      expect(parseDeploymentConfig(JSON.stringify(config), `${here.name}.json`)).toEqual(config);
    }
  });

  it('takes the file of $VOLMIRROR_CONFIG_FILE, and --config before it', () => {
    const fromEnv = file('env.json', { ...deployed, leaseSeconds: 7 });
    const fromFlag = file('flag.json', deployed);
    const vars = env({ [CONFIG_FILE_ENV]: fromEnv });
    expect(resolveDataPlaneConfig(undefined, vars, noLocal).config.leaseSeconds).toBe(7);
    expect(resolveDataPlaneConfig(fromFlag, vars, noLocal).config.leaseSeconds).toBe(10);
  });

  it('an explicit file wins over a running local stack, which serves otherwise', () => {
    const path = file('explicit.json', deployed);
    const local = () => localStack(process.pid);
    expect(resolveDataPlaneConfig(path, env(), local).config.control.table).toBe('vm-control');
    const got = resolveDataPlaneConfig(undefined, env(), local);
    expect(got.source).toBe('local');
    expect(got.config.control.table).toBe('local');
  });

  it('keeps endpoints for an AWS-compatible service and defaults the retention', () => {
    const { retention: _r, ...rest } = deployed;
    const onEndpoint = {
      ...rest,
      sites: deployed.sites.map((s) => ({ ...s, endpoint: 'http://127.0.0.1:4566' })),
      control: { ...deployed.control, endpoint: 'http://127.0.0.1:4566' },
    };
    const got = resolveDataPlaneConfig(file('endpoint.json', onEndpoint), env(), noLocal).config;
    expect(got.sites.map((s) => s.endpoint)).toEqual(['http://127.0.0.1:4566', 'http://127.0.0.1:4566']);
    expect(got.control.endpoint).toBe('http://127.0.0.1:4566');
    expect(got.retention).toBe(8);
  });

  it('without a file or a running stack, says what is missing', () => {
    expect(() => resolveDataPlaneConfig(undefined, env(), noLocal)).toThrow(
      /no local stack is running.*--config FILE or VOLMIRROR_CONFIG_FILE=FILE/,
    );
    // A local.json whose `up` process is gone is no stack either.
    const dead = () => localStack(2 ** 22 + 12_345);
    expect(() => resolveDataPlaneConfig(undefined, env(), dead)).toThrow(
      /local stack \(pid \d+\) is not running any more.*--config FILE/,
    );
  });

  it('refuses a file it cannot read or parse, naming it', () => {
    const missing = join(dir, 'missing.json');
    expect(() => resolveDataPlaneConfig(missing, env(), noLocal)).toThrow(
      new RegExp(`cannot read the deployment config ${missing}: ENOENT`),
    );
    const broken = file('broken.json', '{"sites": [');
    expect(() => resolveDataPlaneConfig(broken, env(), noLocal)).toThrow(/broken\.json is not JSON/);
  });

  it('names every missing or unknown field: no lease default, no credentials in the file', () => {
    const { leaseSeconds: _l, ...noLease } = deployed;
    expect(() => resolveDataPlaneConfig(file('nolease.json', noLease), env(), noLocal)).toThrow(
      /nolease\.json is not a volmirror deployment config: leaseSeconds: /,
    );
    const withKeys = { ...deployed, accessKeyId: 'AKIA', secretAccessKey: 'x' };
    expect(() => resolveDataPlaneConfig(file('keys.json', withKeys), env(), noLocal)).toThrow(
      /keys\.json is not a volmirror deployment config: \(top level\): Unrecognized keys: "accessKeyId", "secretAccessKey"/,
    );
    const oneSite: Partial<MirrorConfig> = { ...deployed, sites: [deployed.sites[0]] };
    const noBucket = {
      ...deployed,
      sites: [{ ...deployed.sites[0], bucket: undefined }, deployed.sites[1]],
    };
    expect(() => resolveDataPlaneConfig(file('onesite.json', oneSite), env(), noLocal)).toThrow(/sites/);
    expect(() => resolveDataPlaneConfig(file('nobucket.json', noBucket), env(), noLocal)).toThrow(
      /sites\.0\.bucket: /,
    );
  });
});

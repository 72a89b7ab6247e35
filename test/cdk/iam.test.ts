import { describe, expect, it } from 'vitest';
import { asList, flatten, resourcesOf, synth, twoRegion } from './fixture';

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

const { sites } = synth(twoRegion);

/** Every Allow statement of every policy document in a template: IAM, bucket, queue, topic and key policies. */
function allowStatements(template: (typeof sites)[number]): { owner: string; s: Statement }[] {
  const found: { owner: string; s: Statement }[] = [];
  const visit = (owner: string, node: unknown) => {
    if (Array.isArray(node)) for (const n of node) visit(owner, n);
    else if (node && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      if (Array.isArray(o.Statement)) {
        for (const s of o.Statement as Statement[]) if (s.Effect === 'Allow') found.push({ owner, s });
      } else for (const v of Object.values(o)) visit(owner, v);
    }
  };
  for (const [id, r] of Object.entries(template.toJSON().Resources as Record<string, unknown>)) visit(id, r);
  return found;
}

const rolePolicy = (template: (typeof sites)[number], fn: string): Statement[] => {
  const policies = resourcesOf(template, 'AWS::IAM::Policy');
  const entry = Object.entries(policies).find(([id]) => id.startsWith(`${fn}FunctionRoleDefaultPolicy`));
  if (!entry) throw new Error(`no policy for ${fn}`);
  return (entry[1].Properties.PolicyDocument as { Statement: Statement[] }).Statement;
};

const actionsOf = (statements: Statement[]) => statements.flatMap((s) => asList(s.Action)).sort();

describe.each(twoRegion.sites.map((s, i) => [s.name, i] as const))('site %s IAM', (name, i) => {
  const template = sites[i];
  const other = twoRegion.sites[1 - i].name;

  it('allows no wildcard action, except the account-root statement of the topic key policy', () => {
    const wildcards = allowStatements(template).filter(({ s }) => asList(s.Action).some((a) => a.includes('*')));
    // KMS's default key policy: without it no IAM policy could ever administer the key.
    const isKeyAdmin = ({ owner, s }: { owner: string; s: Statement }) =>
      /TopicKey/.test(owner) && flatten((s as { Principal?: { AWS?: unknown } }).Principal?.AWS).endsWith(':root');
    expect(wildcards.filter((w) => !isKeyAdmin(w))).toEqual([]);
    expect(wildcards.filter(isKeyAdmin)).toHaveLength(1);
  });

  it('uses wildcard resources only for key prefixes and log streams', () => {
    const allowed = new RegExp(
      `^(arn:aws:s3:::volmirror-123456789012-(east|west)/(volumes|manifests)/\\*|<\\w+Logs\\w+\\.Arn>(/chunks/\\*)?|\\*)$`,
    );
    for (const { owner, s } of allowStatements(template)) {
      for (const r of asList(s.Resource ?? []).map(flatten).filter((x) => x.includes('*'))) {
        expect(r, owner).toMatch(allowed);
        // A bare `*` is only a KMS key policy naming the key itself.
        if (r === '*') expect(owner).toMatch(/TopicKey/);
      }
    }
  });

  it('gives ingest only the conditional put of change batches', () => {
    expect(actionsOf(rolePolicy(template, 'Ingest')).filter((a) => !a.startsWith('sqs:') && !a.startsWith('logs:'))).toEqual([
      'dynamodb:PutItem',
    ]);
  });

  it('lets copy read only the other site chunks and write only its own', () => {
    const statements = rolePolicy(template, 'Copy');
    const reads = statements.find((s) => asList(s.Action).includes('s3:GetObjectVersion'));
    expect(asList(reads?.Resource).map(flatten)).toEqual([`arn:aws:s3:::volmirror-123456789012-${other}/volumes/*`]);
    const writes = statements.find((s) => asList(s.Action).includes('s3:PutObject'));
    expect(asList(writes?.Resource).map(flatten)).toEqual([`arn:aws:s3:::volmirror-123456789012-${name}/volumes/*`]);
  });

  it('lets the scheduler invoke only its own site sync function', () => {
    const invoke = rolePolicy(template, 'Scheduler').filter((s) => asList(s.Action).some((a) => a.startsWith('lambda:')));
    expect(invoke).toEqual([
      expect.objectContaining({ Action: 'lambda:InvokeFunction', Resource: { 'Fn::GetAtt': [expect.stringMatching(/^SyncFunction/), 'Arn'] } }),
    ]);
  });

  it('scopes every data action to the control table replica, the two chunk buckets or the eight queues', () => {
    for (const fn of ['Api', 'Ingest', 'Copy', 'Sync', 'Scheduler']) {
      for (const s of rolePolicy(template, fn)) {
        for (const r of asList(s.Resource).map(flatten)) {
          expect(r, `${fn} ${s.Action}`).toMatch(
            new RegExp(
              `^(arn:aws:dynamodb:${twoRegion.sites[i].region}:123456789012:table/volmirror-control|arn:aws:s3:::volmirror-123456789012-(east|west)(/.*)?|arn:aws:sqs:[a-z0-9-]+:123456789012:volmirror-(east|west)-(changes|copy)|<\\w+\\.Arn>)$`,
            ),
          );
        }
      }
    }
  });
});

import type { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ACCOUNT, asList, eachSite, flatten, resourcesOf, type Synthesized } from '../fixture';

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource?: unknown;
  Principal?: { AWS?: unknown };
}

type Owned = { owner: string; s: Statement };

/** Every Allow statement of every policy document of a template: IAM, bucket, queue, topic and key policies. */
function allowStatements(template: Template): Owned[] {
  const found: Owned[] = [];
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

const actionsOf = (statements: Statement[]) => statements.flatMap((s) => asList(s.Action)).sort();
const resourcesIn = (s: Statement | undefined) => asList(s?.Resource ?? []).map(flatten);

export function iamSuite(s: Synthesized): void {
  const { prefix } = s.config;
  const names = s.config.sites.map((site) => site.name).join('|');
  // The per-group alarms, named by the deployment (shared/aws/alarms.ts).
  const alarms = `arn:aws:cloudwatch:[a-z0-9-]+:${ACCOUNT}:alarm:volmirror-${prefix}-\\*`;
  const bucket = (site: string) => `arn:aws:s3:::${prefix}-${ACCOUNT}-${site}`;

  describe.each(eachSite(s))('site %s IAM', (name, i) => {
    const template = s.sites[i];
    const other = s.config.sites[1 - i].name;
    const rolePolicy = (fn: string): Statement[] => {
      const policies = resourcesOf(template, 'AWS::IAM::Policy');
      const entry = Object.entries(policies).find(([id]) => id.startsWith(`${fn}FunctionRoleDefaultPolicy`));
      if (!entry) throw new Error(`no policy for ${fn}`);
      return (entry[1].Properties.PolicyDocument as { Statement: Statement[] }).Statement;
    };

    it('allows no wildcard action, except the account-root statement of the topic key policy', () => {
      const wildcards = allowStatements(template).filter(({ s }) =>
        asList(s.Action).some((a) => a.includes('*')),
      );
      // KMS's default key policy: without it no IAM policy could ever administer the key.
      const isKeyAdmin = ({ owner, s }: Owned) =>
        /TopicKey/.test(owner) && flatten(s.Principal?.AWS).endsWith(':root');
      expect(wildcards.filter((w) => !isKeyAdmin(w))).toEqual([]);
      expect(wildcards.filter(isKeyAdmin)).toHaveLength(1);
    });

    it('uses wildcard resources only for object key prefixes, log streams and per-group alarms', () => {
      const allowed = new RegExp(
        `^(arn:aws:s3:::${prefix}-${ACCOUNT}-(${names})/(volumes|manifests)/\\*|<\\w+Logs\\w+\\.Arn>(/chunks/\\*)?|${alarms}|\\*)$`,
      );
      for (const { owner, s } of allowStatements(template)) {
        for (const r of resourcesIn(s).filter((x) => x.includes('*'))) {
          expect(r, owner).toMatch(allowed);
          // A bare `*` only in a KMS key policy, where it names the key itself.
          if (r === '*') expect(owner).toMatch(/TopicKey/);
        }
      }
    });

    it('scopes every function action to the table replica, the two buckets, the four queues or itself', () => {
      const allowed = new RegExp(
        `^(arn:aws:dynamodb:[a-z0-9-]+:${ACCOUNT}:table/${prefix}-control|arn:aws:s3:::${prefix}-${ACCOUNT}-(${names})(/.*)?|arn:aws:sqs:[a-z0-9-]+:${ACCOUNT}:${prefix}-(${names})-(changes|copy)|${alarms}|<AlarmsTopic\\w+>|<\\w+\\.Arn>)$`,
      );
      for (const fn of ['Api', 'Ingest', 'Copy', 'Sync', 'Scheduler']) {
        for (const st of rolePolicy(fn))
          for (const r of resourcesIn(st)) expect(r, `${fn} ${st.Action}`).toMatch(allowed);
      }
    });

    it('gives ingest only the conditional put of change batches', () => {
      const data = actionsOf(rolePolicy('Ingest')).filter(
        (a) => !a.startsWith('sqs:') && !a.startsWith('logs:'),
      );
      expect(data).toEqual(['dynamodb:PutItem']);
    });

    it('lets copy read only the other site chunks and write only its own', () => {
      const statements = rolePolicy('Copy');
      const reads = statements.find((st) => asList(st.Action).includes('s3:GetObjectVersion'));
      expect(resourcesIn(reads)).toEqual([`${bucket(other)}/volumes/*`]);
      const writes = statements.find((st) => asList(st.Action).includes('s3:PutObject'));
      expect(resourcesIn(writes)).toEqual([`${bucket(name)}/volumes/*`]);
    });

    it('lets the scheduler invoke only its own site sync function', () => {
      const invoke = rolePolicy('Scheduler').filter((st) =>
        asList(st.Action).some((a) => a.startsWith('lambda:')),
      );
      expect(invoke).toEqual([
        expect.objectContaining({
          Action: 'lambda:InvokeFunction',
          Resource: { 'Fn::GetAtt': [expect.stringMatching(/^SyncFunction/), 'Arn'] },
        }),
      ]);
    });
  });
}

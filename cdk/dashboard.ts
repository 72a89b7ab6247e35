import { Duration } from 'aws-cdk-lib';
import {
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import type { DeploymentConfig } from './config';
import { CUSTOM_METRICS, loggedErrorsMetric, NAMESPACE } from './metrics';
import type { FunctionRole, Names } from './naming';

const ROLES: FunctionRole[] = ['api', 'ingest', 'copy', 'sync', 'scheduler'];
const PERIOD = Duration.minutes(5);

/**
 * One dashboard for the deployment, drawing each site's metrics from its own region by name
 * (no cross-region references): RP age per group, backlog, bytes replicated, errors.
 */
export class DeploymentDashboard extends Construct {
  constructor(scope: Construct, id: string, config: DeploymentConfig, names: Names) {
    super(scope, id);
    const perGroup = (metric: string, statistic: string, region: string, site: string) =>
      new MathExpression({
        expression: `SEARCH('{${NAMESPACE},Deployment,GroupId} Deployment="${config.prefix}" MetricName="${metric}"', '${statistic}', ${PERIOD.toSeconds()})`,
        searchRegion: region,
        label: site,
        period: PERIOD,
      });
    const eachSite = (f: (site: string, region: string) => IMetric[]) =>
      config.sites.flatMap((s) => f(s.name, s.region));
    const queueMetric = (site: string, region: string, queueName: string) =>
      new Metric({
        namespace: 'AWS/SQS',
        metricName: 'ApproximateNumberOfMessagesVisible',
        dimensionsMap: { QueueName: queueName },
        statistic: 'Maximum',
        period: PERIOD,
        region,
        label: `${site} ${queueName}`,
      });
    const graph = (title: string, left: IMetric[], width = 12) =>
      new GraphWidget({ title, left, width, height: 6 });

    new Dashboard(this, 'Dashboard', {
      dashboardName: config.prefix,
      widgets: [
        [
          new TextWidget({
            markdown: [
              `# volmirror \`${config.prefix}\``,
              `Sites: ${config.sites.map((s) => `**${s.name}** (${s.region})`).join(', ')}.`,
              'Per-group graphs come from the app\u2019s EMF metrics (docs/DEPLOY.md, Monitoring); both sites emit the same values.',
            ].join('\n\n'),
            width: 24,
            height: 3,
          }),
        ],
        [
          graph(
            'Recovery point age per group (s)',
            eachSite((site, region) => [perGroup(CUSTOM_METRICS.recoveryPointAge, 'Maximum', region, site)]),
          ),
          graph(
            'Paused groups',
            eachSite((site, region) => [
              new Metric({
                namespace: NAMESPACE,
                metricName: CUSTOM_METRICS.pausedGroups,
                dimensionsMap: { Deployment: config.prefix },
                statistic: 'Maximum',
                period: PERIOD,
                region,
                label: site,
              }),
            ]),
          ),
        ],
        [
          graph(
            'Backlog per group (bytes not yet in an RP)',
            eachSite((site, region) => [perGroup(CUSTOM_METRICS.backlogBytes, 'Maximum', region, site)]),
          ),
          graph(
            'Change records and copy tasks waiting',
            eachSite((site, region) => [
              queueMetric(site, region, names.changeQueue(site)),
              queueMetric(site, region, names.copyQueue(site)),
            ]),
          ),
        ],
        [
          graph(
            'Bytes replicated per group',
            eachSite((site, region) => [perGroup(CUSTOM_METRICS.bytesReplicated, 'Sum', region, site)]),
          ),
          graph(
            'Dead letters',
            eachSite((site, region) => [
              queueMetric(site, region, names.deadLetterQueue(names.changeQueue(site))),
              queueMetric(site, region, names.deadLetterQueue(names.copyQueue(site))),
            ]),
          ),
        ],
        [
          graph(
            'Function errors (failed invocations)',
            eachSite((site, region) =>
              ROLES.map(
                (role) =>
                  new Metric({
                    namespace: 'AWS/Lambda',
                    metricName: 'Errors',
                    dimensionsMap: { FunctionName: names.function(site, role) },
                    statistic: 'Sum',
                    period: PERIOD,
                    region,
                    label: names.function(site, role),
                  }),
              ),
            ),
            8,
          ),
          graph(
            'Logged errors (includes failed SQS messages)',
            eachSite((site, region) =>
              ROLES.map((role) =>
                loggedErrorsMetric(names.function(site, role), region).with({
                  label: names.function(site, role),
                }),
              ),
            ),
            8,
          ),
          graph(
            'API 5xx',
            eachSite((site, region) => [
              new Metric({
                namespace: 'AWS/ApiGateway',
                metricName: '5XXError',
                dimensionsMap: { ApiName: names.api(site) },
                statistic: 'Sum',
                period: PERIOD,
                region,
                label: site,
              }),
            ]),
            8,
          ),
        ],
      ],
    });
  }
}

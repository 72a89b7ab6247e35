import { fileURLToPath } from 'node:url';
import { type Duration, RemovalPolicy } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import {
  ApplicationLogLevel,
  Architecture,
  LoggingFormat,
  Runtime,
  SystemLogLevel,
} from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { FilterPattern, LogGroup, MetricFilter, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ALERT_TOPIC_ENV, DEPLOYMENT_ENV } from '../shared/config';
import { LOGGED_ERRORS_NAMESPACE, NAMESPACE, SERVICE_NAME } from './metrics';
import { acknowledgeWildcardResources } from './nag';

export interface MirrorFunctionProps {
  functionName: string;
  /** File name under lambdas/, exporting `handler`. */
  entry: string;
  description: string;
  memorySize: number;
  timeout: Duration;
  reservedConcurrentExecutions?: number;
  environment: Record<string, string>;
  logRetention: RetentionDays;
}

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/**
 * One of the handlers in lambdas/, bundled by esbuild, on ARM64 and the newest Node runtime,
 * with its own log group and a role that holds only what `grant` adds to it.
 */
export class MirrorFunction extends Construct {
  readonly function: NodejsFunction;
  private readonly role: Role;

  constructor(scope: Construct, id: string, props: MirrorFunctionProps) {
    super(scope, id);
    const logGroup = new LogGroup(this, 'Logs', {
      logGroupName: `/aws/lambda/${props.functionName}`,
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // The SQS handlers catch their errors to report partial batch failures, so the Lambda
    // Errors metric never sees them: count the ERROR lines they log instead.
    new MetricFilter(this, 'LoggedErrors', {
      logGroup,
      filterPattern: FilterPattern.stringValue('$.level', '=', 'ERROR'),
      metricNamespace: LOGGED_ERRORS_NAMESPACE,
      metricName: props.functionName,
      metricValue: '1',
    });
    // Not AWSLambdaBasicExecutionRole: that lets a function create log groups anywhere.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs ${props.functionName}`,
    });
    this.grant(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    acknowledgeWildcardResources(
      this.role,
      [logGroup.logGroupArn],
      'Log streams are created per execution environment with generated names; the grant is scoped to this function log group.',
    );

    this.function = new NodejsFunction(this, 'Function', {
      functionName: props.functionName,
      description: props.description,
      entry: `${repoRoot}lambdas/${props.entry}`,
      handler: 'handler',
      projectRoot: repoRoot,
      depsLockFilePath: `${repoRoot}package-lock.json`,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      role: this.role,
      logGroup,
      // JSON records carry `level`, which the LoggedErrors metric filter matches on; the
      // Powertools Logger writes its JSON lines as they are, with `level` in capitals.
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: ApplicationLogLevel.INFO,
      systemLogLevelV2: SystemLogLevel.WARN,
      environment: {
        ...props.environment,
        NODE_OPTIONS: '--enable-source-maps',
        // Powertools (lambdas/observability.ts, lambdas/group-metrics.ts): the `service` key of
        // every log line, and the namespace the alarms read the EMF metrics from.
        POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        POWERTOOLS_METRICS_NAMESPACE: NAMESPACE,
      },
      bundling: {
        minify: true,
        sourceMap: true,
        // The SDK versions the code was tested with, not whichever the runtime carries.
        bundleAwsSDK: true,
      },
    });
  }

  /** Makes the function publish warning and error events and keep the per-group alarms. */
  sendAlerts(topicArn: string, deployment: string, statements: PolicyStatement[]): void {
    this.function.addEnvironment(ALERT_TOPIC_ENV, topicArn);
    this.function.addEnvironment(DEPLOYMENT_ENV, deployment);
    this.grant(...statements);
  }

  grant(...statements: PolicyStatement[]): void {
    for (const s of statements) this.role.addToPrincipalPolicy(s);
  }
}

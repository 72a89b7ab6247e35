import { RemovalPolicy } from 'aws-cdk-lib';
import {
  AccessLogField,
  AccessLogFormat,
  AuthorizationType,
  EndpointType,
  JsonSchemaVersion,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  type Model,
  ResponseType,
  RestApi,
} from 'aws-cdk-lib/aws-apigateway';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge } from './nag';
import { pathParameters, ROUTES, type Route, requestModel } from './routes';

export interface MirrorApiProps {
  restApiName: string;
  handler: IFunction;
  rateLimit: number;
  burstLimit: number;
  logRetention: RetentionDays;
}

const STAGE = 'v1';

/**
 * Errors the gateway raises itself, in the contract's `{"error":{"code","message"}}` shape.
 * `$context.error.messageString` is already a quoted JSON string.
 */
const GATEWAY_ERRORS: [ResponseType, string][] = [
  [ResponseType.BAD_REQUEST_BODY, 'bad-input'],
  [ResponseType.BAD_REQUEST_PARAMETERS, 'bad-input'],
  [ResponseType.MISSING_AUTHENTICATION_TOKEN, 'missing-signature'],
  [ResponseType.INVALID_SIGNATURE, 'forbidden'],
  [ResponseType.EXPIRED_TOKEN, 'forbidden'],
  [ResponseType.ACCESS_DENIED, 'forbidden'],
  [ResponseType.THROTTLED, 'throttled'],
  [ResponseType.DEFAULT_4XX, 'request-refused'],
  [ResponseType.DEFAULT_5XX, 'gateway-error'],
];

/** The REST API of CONTRACT.md in front of the API function: SigV4 (IAM) auth, validated, throttled, logged. */
export class MirrorApi extends Construct {
  readonly api: RestApi;

  constructor(scope: Construct, id: string, props: MirrorApiProps) {
    super(scope, id);
    const accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.api = new RestApi(this, 'Api', {
      restApiName: props.restApiName,
      description: 'volmirror: volumes, mirror groups, syncs, roles and recovery points',
      endpointTypes: [EndpointType.REGIONAL],
      // Execution logging needs the regional API Gateway account setting to name a CloudWatch role.
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      defaultMethodOptions: { authorizationType: AuthorizationType.IAM },
      deployOptions: {
        stageName: STAGE,
        throttlingRateLimit: props.rateLimit,
        throttlingBurstLimit: props.burstLimit,
        loggingLevel: MethodLoggingLevel.ERROR,
        // Bodies carry no secrets but can be large; the access log has who did what.
        dataTraceEnabled: false,
        metricsEnabled: true,
        accessLogDestination: new LogGroupLogDestination(accessLogs),
        accessLogFormat: AccessLogFormat.custom(
          JSON.stringify({
            requestId: AccessLogField.contextRequestId(),
            time: AccessLogField.contextRequestTime(),
            caller: AccessLogField.contextIdentityUserArn(),
            sourceIp: AccessLogField.contextIdentitySourceIp(),
            method: AccessLogField.contextHttpMethod(),
            resource: AccessLogField.contextResourcePath(),
            status: AccessLogField.contextStatus(),
            latencyMs: AccessLogField.contextResponseLatency(),
            error: AccessLogField.contextErrorResponseType(),
            integrationStatus: AccessLogField.contextIntegrationStatus(),
          }),
        ),
      },
    });
    acknowledge(
      this.api,
      'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      'The regional API Gateway CloudWatch role uses the AWS-maintained AmazonAPIGatewayPushToCloudWatchLogs policy, made for exactly this role.',
    );
    acknowledge(
      this.api,
      'COG4',
      'Callers are IAM principals signing with SigV4 (CONTRACT.md: the CLI signs); there is no Cognito user pool.',
    );
    acknowledge(
      this.api,
      'APIG3',
      'IAM auth rejects unsigned requests before any integration runs and the stage is throttled; a WAF web ACL can be associated per deployment.',
    );

    for (const [type, code] of GATEWAY_ERRORS) {
      this.api.addGatewayResponse(`Error${type.responseType}`, {
        type,
        templates: {
          'application/json': `{"error":{"code":"${code}","message":$context.error.messageString}}`,
        },
      });
    }

    const validator = this.api.addRequestValidator('Validator', {
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    // One invoke permission for the whole API instead of one per method.
    const integration = new LambdaIntegration(props.handler, { scopePermissionToMethod: false });
    for (const route of ROUTES) {
      const method = this.api.root.resourceForPath(route.path).addMethod(route.method, integration, {
        authorizationType: route.public ? AuthorizationType.NONE : AuthorizationType.IAM,
        requestValidator: validator,
        requestParameters: Object.fromEntries(
          pathParameters(route.path).map((p) => [`method.request.path.${p}`, true]),
        ),
        requestModels: route.body ? { 'application/json': this.model(route, route.body) } : undefined,
      });
      if (route.public) {
        acknowledge(
          method,
          'APIG4',
          'GET /health (by contract) and GET /openapi.json (the API document) answer without auth and read nothing.',
        );
      }
    }
  }

  private model(route: Route, body: NonNullable<Route['body']>): Model {
    const name = `${route.method}${route.path}`.replace(/[^A-Za-z0-9]/g, '');
    return this.api.addModel(name, {
      contentType: 'application/json',
      schema: { ...requestModel(body), schema: JsonSchemaVersion.DRAFT4, title: name },
    });
  }
}

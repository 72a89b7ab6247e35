import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Records why an AwsSolutions finding is accepted, for this construct and everything under it. */
export function acknowledge(scope: IConstruct, rule: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions-${rule}`, reason });
}

/**
 * Acknowledges AwsSolutions-IAM5 for exactly these wildcard resources (by the finding id
 * cdk-nag derives from each ARN), so a wildcard added anywhere else is still reported.
 */
export function acknowledgeWildcardResources(scope: IConstruct, resources: string[], reason: string): void {
  const stack = Stack.of(scope);
  for (const arn of resources)
    acknowledge(scope, `IAM5[Resource::${findingText(stack.resolve(arn))}]`, reason);
}

/** cdk-nag's flat rendering of a resolved ARN: Ref as <Name>, GetAtt as <Id.Attr>, joins joined. */
function findingText(node: unknown): string {
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/}/g, '>');
  const intrinsic = node as Record<string, unknown>;
  if (Array.isArray(intrinsic['Fn::Join'])) {
    const [delimiter, parts] = intrinsic['Fn::Join'] as [string, unknown[]];
    return parts.map(findingText).join(delimiter);
  }
  if (Array.isArray(intrinsic['Fn::GetAtt'])) {
    const [id, attribute] = intrinsic['Fn::GetAtt'] as [string, string];
    return `<${id}.${attribute}>`;
  }
  if (typeof intrinsic.Ref === 'string') return `<${intrinsic.Ref}>`;
  return JSON.stringify(node);
}

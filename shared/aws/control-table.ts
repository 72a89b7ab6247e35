import {
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ResourceInUseException,
  UpdateItemCommand,
  type UpdateItemCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';

export interface Key {
  pk: string;
  sk: string;
}

export interface Update {
  set?: Record<string, unknown>;
  remove?: string[];
  add?: Record<string, number>;
  /** Elements appended to a list attribute, which is created if absent. */
  append?: Record<string, unknown[]>;
}

/** A condition expression over `#name` / `:value` placeholders with their bindings. */
export interface Condition {
  expr: string;
  names?: Record<string, string>;
  values?: Record<string, unknown>;
}

const opts = { removeUndefinedValues: true, convertClassInstanceToMap: true };

/**
 * The control table: one DynamoDB table, single-item conditional writes only, because the
 * production table is an MRSC global table (no transactions, no TTL, no LSIs).
 * A failed condition comes back as `null` so that callers map it to their own domain error.
 */
export class ControlTable {
  constructor(
    private readonly db: DynamoDBClient,
    readonly name: string,
  ) {}

  async create(): Promise<void> {
    try {
      await this.db.send(
        new CreateTableCommand({
          TableName: this.name,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'sk', AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
        }),
      );
    } catch (e) {
      if (!(e instanceof ResourceInUseException)) throw e;
    }
  }

  async get<T>(key: Key): Promise<T | undefined> {
    const out = await this.db.send(
      new GetItemCommand({ TableName: this.name, Key: marshall(key), ConsistentRead: true }),
    );
    return out.Item ? strip<T>(unmarshall(out.Item)) : undefined;
  }

  /** Writes the item; false when the condition failed. */
  async put(key: Key, item: object, condition?: Condition): Promise<boolean> {
    try {
      await this.db.send(
        new PutItemCommand({
          TableName: this.name,
          Item: marshall({ ...item, ...key }, opts),
          ...conditionParams(condition),
        }),
      );
      return true;
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) return false;
      throw e;
    }
  }

  /** Updates attributes; returns the new item, or null when the condition failed. */
  async update<T>(key: Key, update: Update, condition?: Condition): Promise<T | null> {
    const out = await this.sendUpdate(key, update, condition, 'ALL_NEW');
    return out ? strip<T>(unmarshall(out.Attributes ?? {})) : null;
  }

  /**
   * Updates attributes without reading the item back; false when the condition failed. For hot
   * paths: the item is neither serialized in the answer nor parsed.
   */
  async apply(key: Key, update: Update, condition?: Condition): Promise<boolean> {
    return (await this.sendUpdate(key, update, condition, 'NONE')) !== null;
  }

  private async sendUpdate(
    key: Key,
    update: Update,
    condition: Condition | undefined,
    returnValues: 'ALL_NEW' | 'NONE',
  ): Promise<UpdateItemCommandOutput | null> {
    const names: Record<string, string> = { ...condition?.names };
    const values: Record<string, unknown> = { ...condition?.values };
    const clauses: string[] = [];
    const name = (path: string) =>
      path
        .split('.')
        .map((part) => {
          const n = `#u_${part.replace(/[^A-Za-z0-9_]/g, '_')}`;
          names[n] = part;
          return n;
        })
        .join('.');
    let i = 0;
    const sets = Object.entries(update.set ?? {}).map(([path, value]) => {
      const v = `:s${i++}`;
      values[v] = value;
      return `${name(path)} = ${v}`;
    });
    for (const [path, elements] of Object.entries(update.append ?? {})) {
      const v = `:l${i++}`;
      values[v] = elements;
      values[':empty'] = [];
      sets.push(`${name(path)} = list_append(if_not_exists(${name(path)}, :empty), ${v})`);
    }
    if (sets.length) clauses.push(`SET ${sets.join(', ')}`);
    const adds = Object.entries(update.add ?? {}).map(([path, value]) => {
      const v = `:a${i++}`;
      values[v] = value;
      return `${name(path)} ${v}`;
    });
    if (adds.length) clauses.push(`ADD ${adds.join(', ')}`);
    if (update.remove?.length) clauses.push(`REMOVE ${update.remove.map(name).join(', ')}`);
    const updateExpr = clauses.join(' ');
    const usedNames = used(names, updateExpr, condition?.expr ?? '');
    const usedValues = used(values, updateExpr, condition?.expr ?? '');
    try {
      return await this.db.send(
        new UpdateItemCommand({
          TableName: this.name,
          Key: marshall(key),
          UpdateExpression: updateExpr,
          ConditionExpression: condition?.expr,
          ExpressionAttributeNames: usedNames,
          ExpressionAttributeValues: usedValues ? marshall(usedValues, opts) : undefined,
          ReturnValues: returnValues,
        }),
      );
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) return null;
      throw e;
    }
  }

  async delete(key: Key, condition?: Condition): Promise<boolean> {
    try {
      await this.db.send(
        new DeleteItemCommand({ TableName: this.name, Key: marshall(key), ...conditionParams(condition) }),
      );
      return true;
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) return false;
      throw e;
    }
  }

  /** Items of one partition whose sort key lies in [from, to] (the whole partition without a range), page by page. */
  async *query<T>(pk: string, from?: string, to?: string, projection?: string[]): AsyncGenerator<T> {
    for await (const item of this.queryRaw(pk, from, to, projection)) yield strip<T>(item);
  }

  /** The keys of the items in a range, for clean-up. */
  async queryKeys(pk: string, from?: string, to?: string): Promise<Key[]> {
    const found: Key[] = [];
    for await (const item of this.queryRaw(pk, from, to, [])) found.push({ pk, sk: item.sk as string });
    return found;
  }

  private async *queryRaw(
    pk: string,
    from: string | undefined,
    to: string | undefined,
    projection?: string[],
  ): AsyncGenerator<Record<string, unknown>> {
    let start: Record<string, unknown> | undefined;
    const ranged = from !== undefined && to !== undefined;
    const names: Record<string, string> = { '#pk': 'pk', ...(ranged || projection ? { '#sk': 'sk' } : {}) };
    projection?.forEach((p, i) => {
      names[`#p${i}`] = p;
    });
    const values = ranged ? { ':pk': pk, ':from': from, ':to': to } : { ':pk': pk };
    do {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.name,
          KeyConditionExpression: ranged ? '#pk = :pk AND #sk BETWEEN :from AND :to' : '#pk = :pk',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: marshall(values),
          ProjectionExpression: projection
            ? ['#sk', ...projection.map((_, i) => `#p${i}`)].join(', ')
            : undefined,
          ConsistentRead: true,
          ExclusiveStartKey: start ? marshall(start) : undefined,
        }),
      );
      for (const item of out.Items ?? []) yield unmarshall(item);
      start = out.LastEvaluatedKey ? unmarshall(out.LastEvaluatedKey) : undefined;
    } while (start);
  }

  async queryPrefix<T>(pk: string, prefix: string, projection?: string[]): Promise<T[]> {
    const items: T[] = [];
    const range = prefix ? [prefix, `${prefix}\uffff`] : [];
    for await (const item of this.query<T>(pk, range[0], range[1], projection)) items.push(item);
    return items;
  }

  async deleteMany(keys: Key[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 25) {
      let requests = keys.slice(i, i + 25).map((k) => ({ DeleteRequest: { Key: marshall(k) } }));
      for (let attempt = 0; requests.length > 0 && attempt < 8; attempt++) {
        const out = await this.db.send(
          new BatchWriteItemCommand({ RequestItems: { [this.name]: requests } }),
        );
        requests = (out.UnprocessedItems?.[this.name] ?? []) as typeof requests;
      }
    }
  }
}

function conditionParams(condition?: Condition) {
  if (!condition) return {};
  const names = used(condition.names, condition.expr);
  const values = used(condition.values, condition.expr);
  return {
    ConditionExpression: condition.expr,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values ? marshall(values, opts) : undefined,
  };
}

/** DynamoDB refuses unused bindings; conditions built from parts may carry some. */
function used<T>(bindings: Record<string, T> | undefined, ...exprs: string[]): Record<string, T> | undefined {
  if (!bindings) return undefined;
  const text = exprs.join(' ');
  const kept = Object.entries(bindings).filter(([k]) => new RegExp(`${k}(?![A-Za-z0-9_])`).test(text));
  return kept.length ? Object.fromEntries(kept) : undefined;
}

function strip<T>(item: Record<string, unknown>): T {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest as T;
}

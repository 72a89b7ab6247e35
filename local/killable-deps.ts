import type { Deps } from '../shared/deps';

/** What a killed process's pending call sees: it never learns how its request ended. */
export class ProcessKilled extends Error {}

/**
 * Deps whose AWS adapters stop at a kill, as a crashed Lambda would: no request is issued
 * after it, and a request already issued still lands but its result is never acted on.
 */
export function killableDeps(deps: Deps, killed: () => boolean): Deps {
  const wrap = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(obj, prop) {
        const value = Reflect.get(obj, prop, obj);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (killed()) throw new ProcessKilled(`killed before ${String(prop)}`);
          const out = value.apply(obj, args);
          if (!(out instanceof Promise)) return out;
          return out.then((result) => {
            if (killed()) throw new ProcessKilled(`killed during ${String(prop)}`);
            return result;
          });
        };
      },
    });
  const wrapAll = <T extends object>(record: Record<string, T>) =>
    Object.fromEntries(Object.entries(record).map(([site, v]) => [site, wrap(v)]));
  return {
    ...deps,
    table: wrap(deps.table),
    stores: wrapAll(deps.stores),
    changeQueues: wrapAll(deps.changeQueues),
    copyQueues: wrapAll(deps.copyQueues),
  };
}

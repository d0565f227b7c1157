import { DroverError } from './error.js';
import { didYouMean } from './suggest.js';

/** A set of adapters (publishers, fleets, state stores…) looked up by id. */
export interface Registry<T extends { id: string }> {
  /** Add an adapter; a second adapter with the same id is an error. */
  register(adapter: T): void;
  /** The adapter with this id; throws `UNKNOWN_ADAPTER` listing the known ids. */
  get(id: string): T;
  has(id: string): boolean;
  /** Known ids, sorted. */
  ids(): string[];
  /** Known adapters, sorted by id. */
  list(): T[];
}

export interface CreateRegistryOptions<T extends { id: string }> {
  /** What the adapters are, for messages: `publisher`, `fleet provider`. */
  kind: string;
  adapters?: Iterable<T>;
}

/** Create an adapter registry whose errors name the known ids and suggest the closest one. */
export function createRegistry<T extends { id: string }>(options: CreateRegistryOptions<T>): Registry<T> {
  const { kind } = options;
  const byId = new Map<string, T>();
  const registry: Registry<T> = {
    register(adapter) {
      if (!adapter.id || typeof adapter.id !== 'string') {
        throw new DroverError('ADAPTER_INVALID', `a ${kind} must have a non-empty string id`, {
          kind: 'internal',
        });
      }
      if (byId.has(adapter.id)) {
        throw new DroverError(
          'ADAPTER_DUPLICATE',
          `a ${kind} with id "${adapter.id}" is already registered`,
          {
            kind: 'internal',
            hint: 'Register each adapter once; give a replacement a different id.',
          },
        );
      }
      byId.set(adapter.id, adapter);
    },
    get(id) {
      const found = byId.get(id);
      if (found) return found;
      const known = registry.ids();
      const guess = didYouMean(id, known);
      const list = known.length > 0 ? known.join(', ') : '(none registered)';
      throw new DroverError('UNKNOWN_ADAPTER', `unknown ${kind} "${id}"`, {
        hint: guess ? `Did you mean "${guess}"? Known: ${list}.` : `Known ${kind}s: ${list}.`,
        details: { kind, id, known },
      });
    },
    has: (id) => byId.has(id),
    ids: () => [...byId.keys()].sort(),
    list: () => registry.ids().map((id) => byId.get(id)!),
  };
  for (const adapter of options.adapters ?? []) registry.register(adapter);
  return registry;
}

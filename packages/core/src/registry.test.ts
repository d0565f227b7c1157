import { describe, expect, it } from 'vitest';
import { createRegistry } from './registry.js';
import { didYouMean, editDistance } from './suggest.js';

interface Publisher {
  id: string;
  publish(): string;
}

describe('createRegistry', () => {
  const local = { id: 'local', publish: () => 'l' } satisfies Publisher;
  const oci = { id: 'oci', publish: () => 'o' } satisfies Publisher;

  it('registers and finds adapters by id, listing them sorted', () => {
    const registry = createRegistry<Publisher>({ kind: 'publisher', adapters: [oci] });
    registry.register(local);
    expect(registry.get('local')).toBe(local);
    expect(registry.has('oci')).toBe(true);
    expect(registry.has('github')).toBe(false);
    expect(registry.ids()).toEqual(['local', 'oci']);
    expect(registry.list()).toEqual([local, oci]);
  });

  it('an unknown id fails with UNKNOWN_ADAPTER naming the known ids and the likely one', () => {
    const registry = createRegistry<Publisher>({ kind: 'publisher', adapters: [local, oci] });
    expect(() => registry.get('locl')).toThrow(
      expect.objectContaining({
        code: 'UNKNOWN_ADAPTER',
        message: 'unknown publisher "locl"',
        hint: 'Did you mean "local"? Known: local, oci.',
      }),
    );
    expect(() => registry.get('aws')).toThrow(
      expect.objectContaining({ hint: 'Known publishers: local, oci.' }),
    );
    const empty = createRegistry<Publisher>({ kind: 'fleet provider' });
    expect(() => empty.get('x')).toThrow(
      expect.objectContaining({ hint: 'Known fleet providers: (none registered).' }),
    );
  });

  it('refuses duplicate and empty ids', () => {
    const registry = createRegistry<Publisher>({ kind: 'publisher', adapters: [local] });
    expect(() => registry.register({ ...local })).toThrow(
      expect.objectContaining({ code: 'ADAPTER_DUPLICATE' }),
    );
    expect(() => registry.register({ id: '', publish: () => '' })).toThrow(
      expect.objectContaining({ code: 'ADAPTER_INVALID' }),
    );
  });
});

describe('did-you-mean', () => {
  it('computes edit distance', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('same', 'same')).toBe(0);
    expect(editDistance('mdoe', 'mode')).toBe(1);
    expect(editDistance('ab', 'ba')).toBe(1);
  });

  it('suggests only close matches, case-insensitively', () => {
    expect(didYouMean('fileystem', ['filesystem', 'verity', 'disk'])).toBe('filesystem');
    expect(didYouMean('VERITY', ['verity'])).toBe('verity');
    expect(didYouMean('zzz', ['verity', 'disk'])).toBeUndefined();
    expect(didYouMean('x', [])).toBeUndefined();
    expect(didYouMean('mdoe', ['mode', 'owner'])).toBe('mode');
  });
});

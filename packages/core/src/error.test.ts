import { describe, expect, it } from 'vitest';
import { DroverError, isDroverError, toDroverError } from './error.js';

describe('DroverError', () => {
  it('carries code, kind, hint, details and cause as enumerable own fields', () => {
    const cause = new Error('low level');
    const e = new DroverError('VERITY_HASH_TOO_SMALL', 'hash file too small', {
      hint: 'grow it',
      kind: 'input',
      details: { need: 12288 },
      cause,
    });
    expect(e).toBeInstanceOf(Error);
    expect(Object.keys(e)).toEqual(
      expect.arrayContaining(['name', 'message', 'code', 'kind', 'hint', 'details', 'cause']),
    );
    const json = JSON.parse(JSON.stringify(e));
    expect(json).toEqual({
      name: 'DroverError',
      code: 'VERITY_HASH_TOO_SMALL',
      kind: 'input',
      message: 'hash file too small',
      hint: 'grow it',
      details: { need: 12288 },
      cause: { name: 'Error', message: 'low level' },
    });
  });

  it('defaults kind to input and omits absent fields', () => {
    const e = new DroverError('RECIPE_INVALID', 'bad');
    expect(e.kind).toBe('input');
    expect(e.toJSON()).toEqual({
      name: 'DroverError',
      code: 'RECIPE_INVALID',
      kind: 'input',
      message: 'bad',
    });
    expect('hint' in e).toBe(false);
  });

  it('rejects codes that are not UPPER_SNAKE_CASE', () => {
    expect(() => new DroverError('bad-code', 'x')).toThrow(TypeError);
    expect(() => new DroverError('_X', 'x')).toThrow(TypeError);
    expect(() => new DroverError('A1_B2', 'x')).not.toThrow();
  });

  it('is recognised by isDroverError, also across copies of the class, and by code', () => {
    const e = new DroverError('X_Y', 'm');
    expect(isDroverError(e)).toBe(true);
    expect(isDroverError(e, 'X_Y')).toBe(true);
    expect(isDroverError(e, 'OTHER')).toBe(false);
    const foreign = { name: 'DroverError', code: 'X_Y', message: 'm' };
    expect(isDroverError(foreign, 'X_Y')).toBe(true);
    expect(isDroverError(new Error('m'))).toBe(false);
    expect(isDroverError(null)).toBe(false);
  });
});

describe('toDroverError', () => {
  const sys = (code: string) =>
    Object.assign(new Error(`${code}: failed`), { code, syscall: 'open', path: '/tmp/x', errno: -2 });

  it('maps Node system errors to kinds users can act on, keeping the path', () => {
    expect(toDroverError(sys('ENOENT'), 'reading recipe')).toMatchObject({
      code: 'FILE_NOT_FOUND',
      kind: 'not-found',
      message: 'reading recipe: no such file or directory: /tmp/x',
    });
    expect(toDroverError(sys('EACCES'))).toMatchObject({ code: 'PERMISSION_DENIED', kind: 'denied' });
    expect(toDroverError(sys('ENOSPC'))).toMatchObject({ code: 'NO_SPACE', kind: 'io' });
    expect(toDroverError(sys('EIO'))).toMatchObject({
      code: 'IO_ERROR',
      kind: 'io',
      message: 'open /tmp/x failed: EIO',
    });
  });

  it('passes DroverErrors through and marks anything else INTERNAL with a report hint', () => {
    const e = new DroverError('KEEP_ME', 'x');
    expect(toDroverError(e)).toBe(e);
    const internal = toDroverError(new TypeError('undefined is not a function'));
    expect(internal.code).toBe('INTERNAL');
    expect(internal.kind).toBe('internal');
    expect(internal.hint).toMatch(/bug/);
    expect(toDroverError('a string')).toMatchObject({ code: 'INTERNAL', message: 'a string' });
  });

  it('maps AbortError to ABORTED', () => {
    const abort = Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
    expect(toDroverError(abort)).toMatchObject({ code: 'ABORTED', kind: 'aborted' });
  });
});

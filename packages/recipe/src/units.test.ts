import { isDroverError } from '@drover/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkImagePath,
  checkSourcePath,
  formatMode,
  formatSize,
  parseMode,
  parseModeValue,
  parseOwnerValue,
  parseSize,
  parseSizeValue,
} from './units.js';

describe('sizes', () => {
  it('parses binary and decimal units and byte counts', () => {
    expect(parseSize('2GiB')).toBe(2 * 1024 ** 3);
    expect(parseSize('512MiB')).toBe(512 * 1024 ** 2);
    expect(parseSize('1.5GiB')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('4KiB')).toBe(4096);
    expect(parseSize('2GB')).toBe(2e9);
    expect(parseSize('100')).toBe(100);
    expect(parseSize(4096)).toBe(4096);
    expect(parseSize(' 3 MiB ')).toBe(3 * 1024 ** 2);
  });

  it('rejects ambiguous, fractional-byte and malformed sizes with a hint', () => {
    const g = parseSizeValue('2G');
    expect(g).toMatchObject({ ok: false, hint: expect.stringMatching(/GiB \(binary\) or GB \(decimal\)/) });
    expect(parseSizeValue('1.5B').ok).toBe(false);
    expect(parseSizeValue('-1MiB').ok).toBe(false);
    expect(parseSizeValue(-5).ok).toBe(false);
    expect(parseSizeValue(1.5).ok).toBe(false);
    expect(parseSizeValue('lots').ok).toBe(false);
    expect(parseSizeValue(true).ok).toBe(false);
    expect(parseSizeValue('99999999TiB').ok).toBe(false);
    expect(() => parseSize('2G')).toThrow(expect.objectContaining({ code: 'RECIPE_SIZE_INVALID' }));
  });

  it('formats and parses back to the same number of bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (n) => {
        expect(parseSize(formatSize(n))).toBe(n);
      }),
    );
    expect(formatSize(2 * 1024 ** 3)).toBe('2GiB');
    expect(formatSize(1536 * 1024 ** 2)).toBe('1536MiB');
  });
});

describe('modes', () => {
  it('reads octal and symbolic modes like chmod', () => {
    expect(parseMode('0644')).toBe(0o644);
    expect(parseMode('644')).toBe(0o644);
    expect(parseMode('0o755')).toBe(0o755);
    expect(parseMode('4755')).toBe(0o4755);
    expect(parseMode('u=rw,go=r')).toBe(0o644);
    expect(parseMode('u=rwx,go=rx')).toBe(0o755);
    expect(parseMode('a=r')).toBe(0o444);
    expect(parseMode('=rw')).toBe(0o666);
    expect(parseMode('u=rwx,g=rx,o=,u+s')).toBe(0o4750);
    expect(parseMode('a=rwx,o-w,g-w')).toBe(0o755);
    expect(parseMode('a=rwx,+t')).toBe(0o1777);
  });

  it('rejects numbers (their meaning is ambiguous) and nonsense', () => {
    expect(parseModeValue(644)).toMatchObject({ ok: false, message: expect.stringMatching(/ambiguous/) });
    expect(parseModeValue('0999').ok).toBe(false);
    expect(parseModeValue('u=q').ok).toBe(false);
    expect(parseModeValue('12').ok).toBe(false);
    expect(() => parseMode('rw')).toThrow(expect.objectContaining({ code: 'RECIPE_MODE_INVALID' }));
  });

  it('round-trips every mode through its octal form', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0o7777 }), (mode) => {
        expect(parseMode(formatMode(mode))).toBe(mode);
      }),
    );
  });
});

describe('owners and paths', () => {
  it('parses owners by name or id', () => {
    expect(parseOwnerValue('root:root')).toEqual({ ok: true, value: { user: 'root', group: 'root' } });
    expect(parseOwnerValue('1000:100')).toEqual({ ok: true, value: { user: 1000, group: 100 } });
    expect(parseOwnerValue('nobody')).toEqual({ ok: true, value: { user: 'nobody', group: 'nobody' } });
    expect(parseOwnerValue(0)).toEqual({ ok: true, value: { user: 0, group: 0 } });
    expect(parseOwnerValue('Root:x y').ok).toBe(false);
  });

  it('accepts only absolute, normalized image paths', () => {
    expect(checkImagePath('/etc/motd').ok).toBe(true);
    expect(checkImagePath('/', true).ok).toBe(true);
    expect(checkImagePath('/', false).ok).toBe(false);
    for (const bad of ['etc/motd', '/etc/../x', '/etc//x', '/etc/', '/./x', '/a\0b']) {
      expect(checkImagePath(bad).ok, bad).toBe(false);
    }
  });

  it('keeps sources inside the recipe folder', () => {
    expect(checkSourcePath('files/motd').ok).toBe(true);
    expect(checkSourcePath('files/../other').ok).toBe(true);
    expect(checkSourcePath('./files').ok).toBe(true);
    for (const bad of ['../secret', 'files/../../x', '/etc/passwd', 'C:\\x', '']) {
      expect(checkSourcePath(bad).ok, bad).toBe(false);
    }
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', '..', '.', 'b'), { maxLength: 8 }), (segments) => {
        const path = segments.join('/');
        let depth = 0;
        let escapes = false;
        for (const s of segments) {
          depth += s === '..' ? -1 : s === '.' ? 0 : 1;
          if (depth < 0) escapes = true;
        }
        expect(checkSourcePath(path).ok).toBe(path !== '' && !escapes);
      }),
    );
  });

  it('throws only DroverError', () => {
    let caught: unknown;
    try {
      parseSize('x');
    } catch (error) {
      caught = error;
    }
    expect(isDroverError(caught, 'RECIPE_SIZE_INVALID')).toBe(true);
  });
});

import { DROVER_ERROR_KINDS, DroverError } from '@drover/core';
import { Errors } from '@oclif/core';
import { describe, expect, it } from 'vitest';
import { renderError, toCliError } from './command.js';
import { EXIT_CODES, exitCodeFor } from './exit-codes.js';
import { createStyle, useColor } from './style.js';

describe('error presentation', () => {
  it('gives every error kind its own documented exit code', () => {
    const codes = DROVER_ERROR_KINDS.map(exitCodeFor);
    expect(new Set(codes).size).toBe(codes.length);
    expect(exitCodeFor('usage')).toBe(2);
    expect(exitCodeFor('input')).toBe(65);
    expect(exitCodeFor('unavailable')).toBe(69);
    expect(exitCodeFor('internal')).toBe(70);
    expect(codes).not.toContain(EXIT_CODES.ok);
    expect(codes).not.toContain(EXIT_CODES.failed);
  });

  it('renders message, code and hint on two lines', () => {
    const e = new DroverError('VERITY_HASH_TOO_SMALL', 'hash file is 4096 bytes but the tree needs 12288', {
      hint: 'grow it or pass --hash-offset',
    });
    expect(renderError(e, createStyle(false))).toBe(
      'drover: hash file is 4096 bytes but the tree needs 12288 [VERITY_HASH_TOO_SMALL]\nhint: grow it or pass --hash-offset\n',
    );
  });

  it('keeps the code on the first line of a multi-line message', () => {
    const e = new DroverError(
      'RECIPE_INVALID',
      'recipe has 2 problems:\n  a.yaml:1:1 x: bad\n  a.yaml:2:1 y: bad',
    );
    expect(renderError(e, createStyle(false))).toBe(
      'drover: recipe has 2 problems: [RECIPE_INVALID]\n  a.yaml:1:1 x: bad\n  a.yaml:2:1 y: bad\n',
    );
  });

  it('maps oclif parse errors to USAGE and anything unknown to INTERNAL', () => {
    const parse = Object.assign(
      new Errors.CLIError('Missing 1 required arg:\ndata\nSee more help with --help'),
      {
        parse: {},
      },
    );
    const usage = toCliError(parse, 'verity:format');
    expect(usage.code).toBe('USAGE');
    expect(usage.message).toBe('Missing 1 required arg:; data');
    expect(usage.hint).toContain('drover verity format --help');
    expect(toCliError(new RangeError('boom')).code).toBe('INTERNAL');
  });

  it('honours NO_COLOR and FORCE_COLOR', () => {
    const tty = { isTTY: true } as NodeJS.WriteStream;
    const pipe = { isTTY: false } as NodeJS.WriteStream;
    expect(useColor(tty, {})).toBe(true);
    expect(useColor(tty, { NO_COLOR: '1' })).toBe(false);
    expect(useColor(pipe, {})).toBe(false);
    expect(useColor(pipe, { FORCE_COLOR: '1' })).toBe(true);
    expect(createStyle(true).red('x')).toBe('\u001b[31mx\u001b[39m');
  });
});

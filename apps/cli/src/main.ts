import { DroverError, didYouMean } from '@drover/core';
import { Errors, flush, type Hook, run } from '@oclif/core';
import { renderError, toCliError } from './command.js';
import { exitCodeFor } from './exit-codes.js';
import { createStyle, useColor } from './style.js';

export interface MainOptions {
  argv: string[];
  /** `import.meta.url` of bin/run.js (or the CLI's root directory). */
  root: string;
}

/**
 * Run the CLI. Errors raised outside a command (unknown command, a broken install) get the same treatment as
 * inside one: one line, a hint, a documented exit code, no stack trace unless DEBUG is set.
 */
export async function main(options: MainOptions): Promise<void> {
  try {
    await run(options.argv, options.root);
    await flush();
  } catch (error) {
    if (error instanceof Errors.ExitError) {
      process.exitCode = error.oclif.exit ?? 1;
      return;
    }
    const droverError = toCliError(error);
    const json = options.argv.includes('--json');
    if (json) {
      process.stdout.write(`${JSON.stringify({ error: droverError.toJSON() }, null, 2)}\n`);
    } else {
      process.stderr.write(renderError(droverError, createStyle(useColor(process.stderr))));
    }
    process.exitCode = exitCodeFor(droverError.kind);
  }
}

/** oclif `command_not_found` hook: a usage error with a did-you-mean hint instead of oclif's default. */
export const commandNotFound: Hook<'command_not_found'> = async (options) => {
  const ids = options.config.commandIDs;
  const typed = options.id.replaceAll(':', ' ');
  const known = [...new Set(ids.map((id) => id.replaceAll(':', ' ')))].sort();
  const guess = didYouMean(typed, known);
  const topLevel = [...new Set(known.map((id) => id.split(' ')[0]!))].join(', ');
  throw new DroverError('UNKNOWN_COMMAND', `unknown command "${typed}"`, {
    kind: 'usage',
    hint: guess
      ? `Did you mean \`drover ${guess}\`? Run \`drover --help\` for all commands.`
      : `Commands: ${topLevel}. Run \`drover --help\` for details.`,
  });
};

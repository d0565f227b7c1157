import { DroverError } from '@drover/core';
import { Flags } from '@oclif/core';

/** Where the local fleet lives. */
export const fleetDirFlag = Flags.string({
  summary: 'Directory of the local fleet.',
  default: '.drover/fleet',
  env: 'DROVER_FLEET',
});

/** Where the local image store lives (the default publish target). */
export const storeDirFlag = Flags.string({
  summary: 'Directory of the local image store.',
  default: '.drover/store',
  env: 'DROVER_STORE',
});

const UNITS: Record<string, number> = {
  '': 1,
  k: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
};

/** Parse `8MiB`, `512k`, `1048576` into bytes. */
export function parseSize(text: string, flag: string): number {
  const m = /^(\d+)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? UNITS[(m[2] ?? '').toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new DroverError('CLI_BAD_SIZE', `--${flag} ${JSON.stringify(text)} is not a size`, {
      kind: 'usage',
      hint: 'Give bytes or a size with a unit: 8MiB, 512KiB, 1048576.',
    });
  }
  return Number(m[1]) * unit;
}

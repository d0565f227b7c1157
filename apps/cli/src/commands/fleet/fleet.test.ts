import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestImage } from '@drover/provider-local';
import { runCommand } from '@oclif/test';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI_ROOT } from '../../../test/helpers.js';
import { EXIT_CODES } from '../../exit-codes.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-cli-fleet-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const run = (args: string[]) => runCommand(args, { root: CLI_ROOT });

async function recordFile(version: string): Promise<string> {
  const img = await createTestImage({ dir: join(dir, version), version });
  const path = join(dir, version, 'image.json');
  await writeFile(path, JSON.stringify(img.record, null, 2));
  return path;
}

describe('drover publish | channel promote | fleet init | fleet ls (local)', () => {
  it('publishes idempotently, promotes channels and starts a fleet from a channel', async () => {
    const store = join(dir, 'store');
    const v1 = await recordFile('1.0.0');
    const first = await run([
      'publish',
      v1,
      '--to',
      'local',
      '--store',
      store,
      '--channel',
      'canary',
      '--json',
    ]);
    expect(first.error).toBeUndefined();
    const published = JSON.parse(first.stdout);
    expect(published.ref.uri).toMatch(/^local:sha256:[0-9a-f]{64}$/);
    const again = await run(['publish', v1, '--store', store, '--json']);
    expect(JSON.parse(again.stdout).ref).toEqual(published.ref);

    const promoted = await run(['channel', 'promote', 'stable', 'canary', '--store', store, '--json']);
    expect(promoted.error).toBeUndefined();
    expect(JSON.parse(promoted.stdout).ref.digest).toBe(published.ref.digest);

    const fleetDir = join(dir, 'fleet');
    const init = await run([
      'fleet',
      'init',
      'local',
      '--nodes',
      '4',
      '--dir',
      fleetDir,
      '--store',
      store,
      '--channel',
      'stable',
      '--zones',
      'eu/a,eu/b',
      '--root-size',
      '1MiB',
      '--hash-size',
      '64KiB',
      '--json',
    ]);
    expect(init.error).toBeUndefined();
    expect(JSON.parse(init.stdout).nodes.map((n: { zone: string }) => n.zone)).toEqual(['a', 'b', 'a', 'b']);
    expect(
      execFileSync('sgdisk', ['-v', join(fleetDir, 'nodes', 'node-01', 'disk.img')], { encoding: 'utf8' }),
    ).toMatch(/No problems found/);

    const ls = await run(['fleet', 'ls', '--dir', fleetDir, '--json']);
    const members = JSON.parse(ls.stdout).members;
    expect(members).toHaveLength(4);
    for (const m of members)
      expect(m).toMatchObject({ state: 'ready', image: { digest: published.ref.digest } });
    const human = await run(['fleet', 'ls', '--dir', fleetDir]);
    expect(human.stdout).toMatch(/^node-04\s+eu\s+b\s+A\s+ready\s+1\.0\.0 sha256:/m);
  });

  it('refuses a tampered artifact with the integrity exit code', async () => {
    const v1 = await recordFile('1.0.0');
    const root = join(dir, '1.0.0', 'root.img');
    const bytes = await readFile(root);
    bytes[0] = (bytes[0] ?? 0) ^ 1;
    await writeFile(root, bytes);
    const { error, stderr } = await run(['publish', v1, '--store', join(dir, 'store')]);
    expect(stderr).toMatch(/expected sha256:/);
    expect(error?.oclif?.exit).toBe(EXIT_CODES.integrity);
    const missing = await run(['channel', 'promote', 'stable', 'nowhere', '--store', join(dir, 'store')]);
    expect(missing.stderr).toMatch(/points nowhere/);
    expect(missing.error?.oclif?.exit).toBe(EXIT_CODES['not-found']);
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLayout, writeImage } from '@drover/oci';
import { startTestRegistry, type TestRegistry } from '@drover/test-registry';
import { runCommand } from '@oclif/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ROOT } from '../../../test/helpers.js';

describe('drover oci push / pull / inspect / tree', () => {
  let dir: string;
  let registry: TestRegistry;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drover-cli-oci-'));
    registry = await startTestRegistry();
    const layout = await openLayout({ dir: join(dir, 'src'), create: true });
    await writeImage({
      layout,
      tag: 'v1',
      config: { config: { Cmd: ['/bin/sh'] } },
      layers: [
        {
          entries: [
            { path: 'etc/', type: 'dir' },
            { path: 'etc/hostname', type: 'file', content: 'drover\n' },
          ],
        },
        {
          entries: [
            { path: 'etc/.wh.hostname', type: 'file', content: '' },
            { path: 'bin', type: 'symlink', linkname: 'usr/bin' },
          ],
        },
      ],
    });
  });
  afterAll(async () => {
    await registry?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('pushes a layout and pulls it back with --json results', async () => {
    const push = await runCommand(
      ['oci', 'push', `${join(dir, 'src')}:v1`, `${registry.host}/cli/app:v1`, '--insecure', '--json'],
      {
        root: CLI_ROOT,
      },
    );
    expect(push.error).toBeUndefined();
    const pushed = JSON.parse(push.stdout);
    expect(pushed.blobs.uploaded).toBe(3);
    const pull = await runCommand(
      ['oci', 'pull', `${registry.host}/cli/app:v1`, '--layout', join(dir, 'out'), '--insecure', '--json'],
      { root: CLI_ROOT },
    );
    expect(pull.error).toBeUndefined();
    expect(JSON.parse(pull.stdout)).toMatchObject({ digest: pushed.digest, tag: 'v1', blobs: 3 });
  });

  it('inspects a layout and a registry image', async () => {
    const local = await runCommand(['oci', 'inspect', `oci:${join(dir, 'src')}:v1`, '--json'], {
      root: CLI_ROOT,
    });
    const report = JSON.parse(local.stdout);
    expect(report).toMatchObject({ platform: 'linux/amd64', config: { cmd: ['/bin/sh'] } });
    expect(report.layers).toHaveLength(2);
    const remote = await runCommand(['oci', 'inspect', `${registry.host}/cli/app:v1`, '--insecure'], {
      root: CLI_ROOT,
    });
    expect(remote.stdout).toContain(report.digest);
    expect(remote.stdout).toMatch(/Layers\s+2/);
  });

  it('lists the flattened tree', async () => {
    const { stdout } = await runCommand(['oci', 'tree', `oci:${join(dir, 'src')}:v1`], { root: CLI_ROOT });
    expect(stdout).toContain('/bin -> usr/bin');
    expect(stdout).toMatch(/^drwxr-xr-x 0\/0 .* \/etc$/m);
    expect(stdout).not.toContain('hostname');
    const json = await runCommand(['oci', 'tree', `oci:${join(dir, 'src')}:v1`, '--json'], {
      root: CLI_ROOT,
    });
    expect(json.error).toBeUndefined();
    expect(JSON.parse(json.stdout).summary).toMatchObject({ dirs: 2, symlinks: 1, files: 0 });
  });

  it('fails with a clear error for a missing tag and a bad platform', async () => {
    const missing = await runCommand(['oci', 'inspect', `oci:${join(dir, 'src')}:nope`], { root: CLI_ROOT });
    expect(missing.error?.oclif?.exit).toBe(66);
    expect(missing.stderr).toContain('has no image "nope"');
    expect(missing.error?.oclif?.exit).not.toBe(0);
    const bad = await runCommand(['oci', 'inspect', `oci:${join(dir, 'src')}:v1`, '--platform', 'linux'], {
      root: CLI_ROOT,
    });
    expect(bad.stderr).toContain('os/architecture');
  });
});

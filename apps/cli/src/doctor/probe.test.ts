import { describe, expect, it } from 'vitest';
import { findExecutable, parseVersion, runDoctor, satisfiesMinimum } from './probe.js';

describe('doctor probes', () => {
  it('parses versions the way the tools print them', () => {
    expect(parseVersion('veritysetup 2.6.1 flags: UDEV BLKID KEYRING')).toBe('2.6.1');
    expect(parseVersion('mkfs.erofs 1.5')).toBe('1.5');
    expect(parseVersion('mke2fs 1.47.0 (5-Feb-2023)\n\tUsing EXT2FS Library version 1.47.0')).toBe('1.47.0');
    expect(parseVersion('QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7+deb12u18)')).toBe('7.2.15');
    expect(parseVersion('no digits here')).toBeUndefined();
  });

  it('compares Node versions numerically', () => {
    expect(satisfiesMinimum('v20.19.0', '20.19')).toBe(true);
    expect(satisfiesMinimum('v20.20.2', '20.19')).toBe(true);
    expect(satisfiesMinimum('v22.0.0', '20.19')).toBe(true);
    expect(satisfiesMinimum('v20.18.9', '20.19')).toBe(false);
    expect(satisfiesMinimum('v20.9.0', '20.19')).toBe(false);
  });

  it('finds executables on PATH and reports absent ones as missing', async () => {
    expect(await findExecutable('node', { PATH: process.execPath.replace(/\/node$/, '') })).toBe(
      process.execPath,
    );
    expect(await findExecutable('definitely-not-a-tool-xyz', { PATH: '/usr/bin' })).toBeUndefined();
    const report = await runDoctor({
      tools: [
        { id: 'ghost', command: 'ghost-tool-xyz', versionArgs: [], package: 'ghost', enables: 'nothing' },
      ],
    });
    expect(report.tools).toEqual([
      { id: 'ghost', command: 'ghost-tool-xyz', found: false, package: 'ghost', enables: 'nothing' },
    ]);
  });
});

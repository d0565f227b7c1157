import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../../test/helpers.js';
import { generateRoleKeys, loadRoleKeys } from './keyfiles.js';
import { tufKeyFor } from './keys.js';

const tempDir = useTempDir();

describe('role key files', () => {
  it('generates one 0600 key per role, skips roles that have one, and loads them by role', async () => {
    const dir = join(await tempDir(), 'keys');
    const written = await generateRoleKeys({ keysDir: dir, algorithm: 'ed25519', passphrase: 'pw' });
    expect(written.map((p) => p.slice(dir.length + 1))).toEqual([
      'root.pem',
      'targets.pem',
      'snapshot.pem',
      'timestamp.pem',
    ]);
    expect((await stat(join(dir, 'root.pem'))).mode & 0o777).toBe(0o600);
    expect(await generateRoleKeys({ keysDir: dir })).toEqual([]);
    expect((await readdir(dir)).length).toBe(8);
    const keys = await loadRoleKeys({
      keysDir: dir,
      keys: [`root=${join(dir, 'targets.pem')}`],
      passphrase: 'pw',
    });
    expect(keys.root).toHaveLength(2);
    expect(tufKeyFor(keys.targets?.[0]?.publicKey ?? '').keyType).toBe('ed25519');
    await expect(loadRoleKeys({ keysDir: dir })).rejects.toMatchObject({ code: 'KEY_PASSPHRASE_REQUIRED' });
  });

  it('rejects bad specs and a missing directory with codes', async () => {
    await expect(loadRoleKeys({ keys: ['target=x.pem'] })).rejects.toMatchObject({
      code: 'TUF_KEY_SPEC_INVALID',
      hint: expect.stringContaining('targets'),
    });
    await expect(loadRoleKeys({ keys: ['nope'] })).rejects.toMatchObject({ code: 'TUF_KEY_SPEC_INVALID' });
    await expect(loadRoleKeys({ keysDir: '/nonexistent/keys' })).rejects.toMatchObject({
      code: 'TUF_KEYS_DIR_MISSING',
    });
  });
});

import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '@oclif/test';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_ROOT, spawnCli } from '../../test/helpers.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'drover-cli-sign-'));
  dirs.push(d);
  return d;
}

describe('drover keys generate / sign / verify', () => {
  it('generates a key, signs a file (bundle + openssl-checkable .sig) and verifies it, all with --json', async () => {
    const dir = await tempDir();
    const key = join(dir, 'release.pem');
    const gen = await runCommand(['keys', 'generate', key, '--json'], { root: CLI_ROOT });
    expect(gen.error).toBeUndefined();
    const keyJson = JSON.parse(gen.stdout);
    expect(keyJson).toMatchObject({
      algorithm: 'ecdsa-p256',
      privateKeyPath: key,
      publicKeyPath: `${key}.pub`,
      encrypted: false,
    });
    expect((await stat(key)).mode & 0o777).toBe(0o600);

    const file = join(dir, 'disk.img');
    await writeFile(file, Buffer.alloc(50_000, 9));
    const signed = await runCommand(['sign', file, '--key', key, '--json'], { root: CLI_ROOT });
    expect(signed.error).toBeUndefined();
    const s = JSON.parse(signed.stdout);
    expect(s.artifacts[0]).toMatchObject({
      file,
      bundlePath: `${file}.sigstore.json`,
      signaturePath: `${file}.sig`,
      keyHint: keyJson.keyHint,
    });
    expect(s.artifacts[0].bundle).toBeUndefined();
    const bundle = JSON.parse(await readFile(`${file}.sigstore.json`, 'utf8'));
    expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    const ossl = spawnSync(
      'openssl',
      ['dgst', '-sha256', '-verify', `${key}.pub`, '-signature', `${file}.sig`, file],
      { encoding: 'utf8' },
    );
    expect(ossl.stdout).toContain('Verified OK');

    const policy = join(dir, 'policy.json');
    await writeFile(
      policy,
      JSON.stringify({ version: 1, keys: [{ name: 'release', path: 'release.pem.pub' }] }),
    );
    const verified = await runCommand(['verify', file, '--policy', policy, '--json'], { root: CLI_ROOT });
    expect(verified.error).toBeUndefined();
    expect(JSON.parse(verified.stdout)).toMatchObject({ verified: true, signer: { keyName: 'release' } });

    await writeFile(file, Buffer.alloc(50_000, 8));
    const bad = spawnCli(['verify', file, '--policy', policy, '--json']);
    expect(bad.status).not.toBe(0);
    expect(JSON.parse(bad.stdout).error).toMatchObject({ code: 'ARTIFACT_TAMPERED', kind: 'integrity' });
  });

  it('signs provenance for an image record and verifies it with --predicate-type', async () => {
    const dir = await tempDir();
    const key = join(dir, 'k.pem');
    await runCommand(['keys', 'generate', key, '--algorithm', 'ed25519', '-q'], { root: CLI_ROOT });
    const file = join(dir, 'disk.img');
    await writeFile(file, 'image bytes');
    const digest = `sha256:${(await import('node:crypto')).createHash('sha256').update('image bytes').digest('hex')}`;
    const record = join(dir, 'image.json');
    await writeFile(
      record,
      JSON.stringify({
        schemaVersion: 1,
        name: 'edge',
        version: '1.0.0',
        artifacts: [{ name: 'disk', path: 'disk.img', digest, size: 11, mediaType: 'x' }],
      }),
    );
    const r = spawnCli(['sign', '--provenance', record, '--key', key, '--json'], {
      GITHUB_ACTIONS: 'true',
      GITHUB_WORKFLOW_REF: 'acme/os/.github/workflows/release.yml@refs/heads/main',
    });
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.provenance).toMatchObject({
      bundlePath: join(dir, 'image.provenance.sigstore.json'),
      subjects: 1,
      builderId: 'https://github.com/acme/os/.github/workflows/release.yml@refs/heads/main',
    });
    const policy = join(dir, 'policy.json');
    await writeFile(policy, JSON.stringify({ version: 1, keys: [{ path: 'k.pem.pub' }] }));
    const v = spawnCli([
      'verify',
      file,
      '--bundle',
      out.provenance.bundlePath,
      '--policy',
      policy,
      '--predicate-type',
      'https://slsa.dev/provenance/v1',
      '--json',
    ]);
    expect(v.status).toBe(0);
    expect(JSON.parse(v.stdout).predicateType).toBe('https://slsa.dev/provenance/v1');
    const w = spawnCli([
      'verify',
      file,
      '--bundle',
      out.provenance.bundlePath,
      '--policy',
      policy,
      '--predicate-type',
      'https://example.com/other',
    ]);
    expect(w.stderr).toContain('[PREDICATE_TYPE_MISMATCH]');
  });

  it('encrypted keys: passphrase from the env var; wrong passphrase and public key give coded errors with hints', async () => {
    const dir = await tempDir();
    const key = join(dir, 'enc.pem');
    const secret = 'hunter2-very-secret-passphrase';
    const g = spawnCli(['keys', 'generate', key, '--passphrase-env', 'MY_PASS', '--json'], {
      MY_PASS: secret,
    });
    expect(g.status).toBe(0);
    expect(JSON.parse(g.stdout).encrypted).toBe(true);
    const file = join(dir, 'f');
    await writeFile(file, 'x');
    expect(
      spawnCli(['sign', file, '--key', key, '--passphrase-env', 'MY_PASS'], { MY_PASS: secret }).status,
    ).toBe(0);
    const wrong = spawnCli(['sign', file, '--key', key, '--passphrase-env', 'MY_PASS', '--json'], {
      MY_PASS: 'nope',
    });
    expect(JSON.parse(wrong.stdout).error).toMatchObject({ code: 'KEY_PASSPHRASE_WRONG' });
    const missing = spawnCli(['sign', file, '--key', key], { DROVER_KEY_PASSPHRASE: '' });
    expect(missing.stderr).toContain('[KEY_PASSPHRASE_REQUIRED]');
    expect(missing.stderr).toContain('hint: Set DROVER_KEY_PASSPHRASE');
    const pub = spawnCli(['sign', file, '--key', `${key}.pub`]);
    expect(pub.stderr).toContain('[KEY_NOT_PRIVATE]');
    // the passphrase never shows up anywhere
    for (const r of [wrong, missing, pub, g]) expect(`${r.stdout}${r.stderr}`).not.toContain(secret);
  });

  it('never prints private key material in logs, errors or --json, even with DEBUG', async () => {
    const dir = await tempDir();
    const key = join(dir, 'k.pem');
    const gen = spawnCli(['keys', 'generate', key, '--json'], { DEBUG: '1' });
    const pem = await readFile(key, 'utf8');
    const body = pem.split('\n').slice(1, -2).join('');
    const chunks = [body.slice(0, 24), body.slice(24, 48), body.slice(-24)];
    const file = join(dir, 'f');
    await writeFile(file, 'x');
    // a damaged private key: parse error paths must not echo it
    const broken = join(dir, 'broken.pem');
    await writeFile(broken, pem.replace(/[A-Za-z]{10}/, 'ZZZZZZZZZZ'));
    const runs = [
      gen,
      spawnCli(['sign', file, '--key', key, '--json'], { DEBUG: '1' }),
      spawnCli(['sign', file, '--key', key], { DEBUG: '1' }),
      spawnCli(['sign', file, '--key', broken, '--json'], { DEBUG: '1' }),
      spawnCli(['sign', file, '--key', broken], { DEBUG: '1' }),
      spawnCli(
        [
          'repo',
          'init',
          join(dir, 'repo'),
          '--key',
          `root=${key}`,
          '--key',
          `targets=${key}`,
          '--key',
          `snapshot=${key}`,
          '--key',
          `timestamp=${key}`,
          '--json',
        ],
        { DEBUG: '1' },
      ),
    ];
    expect(runs[3]?.status).not.toBe(0);
    for (const r of runs) {
      const all = `${r.stdout}${r.stderr}`;
      expect(all).not.toContain('PRIVATE KEY');
      for (const c of chunks) expect(all).not.toContain(c);
    }
  });

  it('--keyless outside GitHub Actions fails with KEYLESS_IDENTITY_UNAVAILABLE and a hint (no network used)', async () => {
    const dir = await tempDir();
    const file = join(dir, 'f');
    await writeFile(file, 'x');
    const r = spawnCli(['sign', file, '--keyless', '--fulcio-url', 'http://127.0.0.1:9', '--json'], {
      ACTIONS_ID_TOKEN_REQUEST_URL: '',
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: '',
      SIGSTORE_ID_TOKEN: '',
    });
    expect(r.status).toBe(69);
    expect(JSON.parse(r.stdout).error).toMatchObject({
      code: 'KEYLESS_IDENTITY_UNAVAILABLE',
      hint: expect.stringContaining('id-token: write'),
    });
  });

  it('--keyless against a local fake Fulcio and fake Rekor on 127.0.0.1: sign, then verify with a trusted root (tlog checked)', async () => {
    const { startFakeFulcio, startFakeRekor, startFakeTsa, TOKEN, ISSUER, IDENTITY } = await import(
      '../../../../packages/sign/test/fake-sigstore.js'
    );
    const [fulcio, rekor, tsa] = await Promise.all([startFakeFulcio(), startFakeRekor(), startFakeTsa()]);
    const saved = process.env.SIGSTORE_ID_TOKEN;
    try {
      const dir = await tempDir();
      const file = join(dir, 'edge.img');
      await writeFile(file, Buffer.alloc(10_000, 3));
      // in-process (the fakes share this event loop); the token comes from SIGSTORE_ID_TOKEN as in CI
      process.env.SIGSTORE_ID_TOKEN = TOKEN;
      const signed = await runCommand(
        [
          'sign',
          file,
          '--keyless',
          '--fulcio-url',
          fulcio.url,
          '--rekor-url',
          rekor.url,
          '--tsa-url',
          tsa.url,
          '--json',
        ],
        { root: CLI_ROOT },
      );
      expect(signed.error).toBeUndefined();
      expect(JSON.parse(signed.stdout).artifacts[0]).toMatchObject({ content: 'messageSignature' });
      expect(signed.stdout).not.toContain(TOKEN);
      expect(rekor.entries).toHaveLength(1);
      const { X509Certificate } = await import('node:crypto');
      const root = join(dir, 'trusted_root.json');
      await writeFile(
        root,
        JSON.stringify({
          certificateAuthorities: [
            {
              certChain: {
                certificates: [
                  { rawBytes: new X509Certificate(await fulcio.caPem()).raw.toString('base64') },
                ],
              },
            },
          ],
          tlogs: [rekor.trustedLog()],
          timestampAuthorities: [await tsa.trustedAuthority()],
        }),
      );
      const policy = join(dir, 'policy.json');
      await writeFile(
        policy,
        JSON.stringify({
          version: 1,
          identities: [{ issuer: ISSUER, subject: IDENTITY }],
          requireTransparencyLog: true,
        }),
      );
      const verified = await runCommand(
        ['verify', file, '--policy', policy, '--trusted-root', root, '--json'],
        {
          root: CLI_ROOT,
        },
      );
      expect(verified.error).toBeUndefined();
      const v = JSON.parse(verified.stdout);
      expect(v).toMatchObject({ verified: true, signer: { issuer: ISSUER, subject: IDENTITY } });
      expect(v.transparencyLog[0]).toMatchObject({
        kind: 'hashedrekord',
        signedEntryTimestamp: true,
        inclusionProof: true,
      });
      const human = await runCommand(['verify', file, '--policy', policy, '--trusted-root', root], {
        root: CLI_ROOT,
      });
      expect(human.stdout).toContain('Transparency log: entry 0');
      expect(human.stdout).toContain('Timestamp: ');
      expect(v.timestamps).toHaveLength(1);

      // --no-tlog: no entry, and a policy requiring one refuses the bundle
      await runCommand(['sign', file, '--keyless', '--no-tlog', '--fulcio-url', fulcio.url, '-q'], {
        root: CLI_ROOT,
      });
      expect(rekor.entries).toHaveLength(1);
      const refused = await runCommand(
        ['verify', file, '--policy', policy, '--trusted-root', root, '--json'],
        {
          root: CLI_ROOT,
        },
      );
      expect(JSON.parse(refused.stdout).error.code).toBe('TLOG_MISSING');
    } finally {
      if (saved === undefined) delete process.env.SIGSTORE_ID_TOKEN;
      else process.env.SIGSTORE_ID_TOKEN = saved;
      await Promise.all([fulcio.close(), rekor.close(), tsa.close()]);
    }
  });

  it('rejects sign without a key as a usage error', async () => {
    const r = spawnCli(['sign', 'whatever']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('[USAGE]');
  });
});

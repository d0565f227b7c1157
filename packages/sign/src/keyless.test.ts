import { spawnSync } from 'node:child_process';
import { createPublicKey, verify as nodeVerify, X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTempDir } from '../test/helpers.js';
import { signArtifact } from './bundle.js';
import { keylessSigner } from './keyless.js';
import { parsePolicy } from './policy.js';
import { verifyArtifact } from './verify.js';

const tempDir = useTempDir();
const ISSUER = 'https://token.actions.githubusercontent.com';
const IDENTITY = 'https://github.com/acme/os/.github/workflows/release.yml@refs/heads/main';
const b64url = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const TOKEN = `${b64url({ alg: 'none' })}.${b64url({ iss: ISSUER, sub: 'repo:acme/os:ref:refs/heads/main', aud: 'sigstore' })}.sig`;

let server: Server;
let url = '';
let caDir = '';
let requests = 0;
let failNext = false;

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
}

// A fake Fulcio on 127.0.0.1: checks the proof of possession, then issues a certificate for the posted key with
// openssl, carrying the workflow identity as SAN URI and the token issuer in Fulcio's issuer extension.
beforeAll(async () => {
  const { mkdtemp } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  caDir = await mkdtemp(join(tmpdir(), 'fake-fulcio-'));
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-subj',
      '/CN=fake-fulcio',
      '-days',
      '1',
    ],
    caDir,
  );
  const issuerHex = Buffer.from(ISSUER).toString('hex');
  await writeFile(
    join(caDir, 'ext.cnf'),
    `subjectAltName=URI:${IDENTITY}\n1.3.6.1.4.1.57264.1.1=DER:${issuerHex}\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n`,
  );
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      requests++;
      if (failNext || req.url !== '/api/v2/signingCert') {
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"message":"boom"}');
        return;
      }
      const request = JSON.parse(body);
      const pem: string = request.publicKeyRequest.publicKey.content;
      const pop = Buffer.from(request.publicKeyRequest.proofOfPossession, 'base64');
      const sub = JSON.parse(
        Buffer.from(request.credentials.oidcIdentityToken.split('.')[1], 'base64url').toString(),
      ).sub;
      if (!nodeVerify('sha256', Buffer.from(sub), createPublicKey(pem), pop)) {
        res.writeHead(400).end('{"message":"bad proof of possession"}');
        return;
      }
      const n = requests;
      spawnSync('sh', ['-c', `cat > pub${n}.pem`], { cwd: caDir, input: pem });
      openssl(
        [
          'x509',
          '-new',
          '-force_pubkey',
          `pub${n}.pem`,
          '-subj',
          '/O=sigstore.dev',
          '-CA',
          'ca.pem',
          '-CAkey',
          'ca.key',
          '-days',
          '1',
          '-extfile',
          'ext.cnf',
          '-out',
          `leaf${n}.pem`,
        ],
        caDir,
      );
      readFile(join(caDir, `leaf${n}.pem`), 'utf8').then(async (leaf) => {
        const ca = await readFile(join(caDir, 'ca.pem'), 'utf8');
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ signedCertificateEmbeddedSct: { chain: { certificates: [leaf, ca] } } }));
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  const { rm } = await import('node:fs/promises');
  await rm(caDir, { recursive: true, force: true });
});

async function trustedRoot(caPemPath: string) {
  const der = new X509Certificate(await readFile(caPemPath)).raw;
  return {
    certificateAuthorities: [{ certChain: { certificates: [{ rawBytes: der.toString('base64') }] } }],
  };
}

describe('keylessSigner against a local fake Fulcio on 127.0.0.1 (real Sigstore is unreachable here)', () => {
  it('signs an artifact as a DSSE statement with a Fulcio certificate that verifies against the identity policy', async () => {
    const dir = await tempDir();
    const file = join(dir, 'a.img');
    await writeFile(file, 'keyless artifact');
    const signed = await signArtifact({
      file,
      signer: keylessSigner({ fulcioURL: url, identityToken: async () => TOKEN }),
    });
    expect(signed.content).toBe('dsseEnvelope');
    expect(signed.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(signed.bundle.verificationMaterial.certificate?.rawBytes).toBeTruthy();
    const root = await trustedRoot(join(caDir, 'ca.pem'));
    const policy = await parsePolicy({
      document: { version: 1, identities: [{ issuer: ISSUER, subject: IDENTITY }] },
    });
    const result = await verifyArtifact({ artifact: file, bundle: signed.bundle, policy, trustedRoot: root });
    expect(result.signer).toEqual({ issuer: ISSUER, subject: IDENTITY });

    const regexPolicy = await parsePolicy({
      document: { version: 1, identities: [{ issuer: ISSUER, subjectRegExp: 'https://github.com/acme/.*' }] },
    });
    await expect(
      verifyArtifact({ artifact: file, bundle: signed.bundle, policy: regexPolicy, trustedRoot: root }),
    ).resolves.toMatchObject({ verified: true });

    const otherPolicy = await parsePolicy({
      document: { version: 1, identities: [{ issuer: ISSUER, subject: 'https://github.com/evil/x' }] },
    });
    await expect(
      verifyArtifact({ artifact: file, bundle: signed.bundle, policy: otherPolicy, trustedRoot: root }),
    ).rejects.toMatchObject({
      code: 'IDENTITY_UNTRUSTED',
    });

    // another CA is not trusted
    openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        join(dir, 'o.key'),
        '-out',
        join(dir, 'o.pem'),
        '-subj',
        '/CN=other',
        '-days',
        '1',
      ],
      dir,
    );
    await expect(
      verifyArtifact({
        artifact: file,
        bundle: signed.bundle,
        policy,
        trustedRoot: await trustedRoot(join(dir, 'o.pem')),
      }),
    ).rejects.toMatchObject({ code: 'CERTIFICATE_UNTRUSTED' });
    await expect(verifyArtifact({ artifact: file, bundle: signed.bundle, policy })).rejects.toMatchObject({
      code: 'TRUSTED_ROOT_MISSING',
    });

    await writeFile(file, 'changed');
    await expect(
      verifyArtifact({ artifact: file, bundle: signed.bundle, policy, trustedRoot: root }),
    ).rejects.toMatchObject({
      code: 'ARTIFACT_TAMPERED',
    });
  });

  it('maps a failing Fulcio (local fake returning 500) and a missing token to coded errors', async () => {
    const dir = await tempDir();
    const file = join(dir, 'a.img');
    await writeFile(file, 'x');
    failNext = true;
    try {
      await expect(
        signArtifact({ file, signer: keylessSigner({ fulcioURL: url, identityToken: async () => TOKEN }) }),
      ).rejects.toMatchObject({
        code: 'KEYLESS_FULCIO_FAILED',
        kind: 'unavailable',
      });
    } finally {
      failNext = false;
    }
    const noToken = keylessSigner({
      fulcioURL: url,
      identityToken: async () => {
        throw new Error('ACTIONS_ID_TOKEN_REQUEST_URL is not set');
      },
    });
    await expect(signArtifact({ file, signer: noToken })).rejects.toMatchObject({
      code: 'KEYLESS_IDENTITY_UNAVAILABLE',
    });
    // a malformed token is a credential: it must not be echoed in the error (or its cause)
    const badToken = keylessSigner({ fulcioURL: url, identityToken: async () => 'SECRET-TOKEN-VALUE' });
    const err = await signArtifact({ file, signer: badToken }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'KEYLESS_IDENTITY_UNAVAILABLE' });
    expect(JSON.stringify((err as { toJSON(): unknown }).toJSON())).not.toContain('SECRET-TOKEN-VALUE');
  });
});

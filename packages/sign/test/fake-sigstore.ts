// Local fakes of the Sigstore services keyless signing talks to, listening on 127.0.0.1 only (public Sigstore is not
// reachable from the build machines). Test fixtures: they implement just what keyless signing needs, independently
// of the code under test (the Merkle proofs here follow RFC 6962's recursive PATH definition; drover's verifier
// uses the iterative decomposition).
import { spawnSync } from 'node:child_process';
import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign as nodeSign,
  verify as nodeVerify,
  X509Certificate,
} from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ISSUER = 'https://token.actions.githubusercontent.com';
export const IDENTITY = 'https://github.com/acme/os/.github/workflows/release.yml@refs/heads/main';
const b64url = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
/** An unsigned GitHub-Actions-shaped OIDC token (the fake Fulcio does not check signatures). */
export const TOKEN = `${b64url({ alg: 'none' })}.${b64url({ iss: ISSUER, sub: 'repo:acme/os:ref:refs/heads/main', aud: 'sigstore' })}.sig`;

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
}

/** Generate a self-signed P-256 CA with openssl (pem + key in `dir`). */
export function makeCa(dir: string, name: string): void {
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
      `${name}.key`,
      '-out',
      `${name}.pem`,
      '-subj',
      `/CN=${name}`,
      '-days',
      '1',
    ],
    dir,
  );
}

async function body(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text;
}

function json(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(value));
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

export interface FakeFulcio {
  url: string;
  dir: string;
  requests: number;
  failNext: boolean;
  caPem(): Promise<string>;
  close(): Promise<void>;
}

/**
 * A fake Fulcio: checks the proof of possession, then issues a certificate for the posted key with openssl, carrying
 * the workflow identity as SAN URI and the token issuer in Fulcio's issuer extension (valid for one day).
 */
export async function startFakeFulcio(): Promise<FakeFulcio> {
  const dir = await mkdtemp(join(tmpdir(), 'fake-fulcio-'));
  makeCa(dir, 'ca');
  const issuerHex = Buffer.from(ISSUER).toString('hex');
  await writeFile(
    join(dir, 'ext.cnf'),
    `subjectAltName=URI:${IDENTITY}\n1.3.6.1.4.1.57264.1.1=DER:${issuerHex}\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n`,
  );
  const state = { requests: 0, failNext: false };
  const server = createServer(async (req, res) => {
    const text = await body(req);
    state.requests++;
    if (state.failNext || req.url !== '/api/v2/signingCert') {
      json(res, 500, { message: 'boom' });
      return;
    }
    const request = JSON.parse(text);
    const pem: string = request.publicKeyRequest.publicKey.content;
    const pop = Buffer.from(request.publicKeyRequest.proofOfPossession, 'base64');
    const sub = JSON.parse(
      Buffer.from(request.credentials.oidcIdentityToken.split('.')[1], 'base64url').toString(),
    ).sub;
    if (!nodeVerify('sha256', Buffer.from(sub), createPublicKey(pem), pop)) {
      json(res, 400, { message: 'bad proof of possession' });
      return;
    }
    const n = state.requests;
    await writeFile(join(dir, `pub${n}.pem`), pem);
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
      dir,
    );
    const leaf = await readFile(join(dir, `leaf${n}.pem`), 'utf8');
    const ca = await readFile(join(dir, 'ca.pem'), 'utf8');
    json(res, 201, { signedCertificateEmbeddedSct: { chain: { certificates: [leaf, ca] } } });
  });
  const url = await listen(server);
  return {
    url,
    dir,
    get requests() {
      return state.requests;
    },
    get failNext() {
      return state.failNext;
    },
    set failNext(v: boolean) {
      state.failNext = v;
    },
    caPem: () => readFile(join(dir, 'ca.pem'), 'utf8'),
    async close() {
      await close(server);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// ---- RFC 6962 Merkle tree (recursive definitions from section 2.1) ----

const leafHash = (leaf: Buffer): Buffer =>
  createHash('sha256')
    .update(Buffer.from([0]))
    .update(leaf)
    .digest();
const nodeHash = (l: Buffer, r: Buffer): Buffer =>
  createHash('sha256')
    .update(Buffer.from([1]))
    .update(l)
    .update(r)
    .digest();
/** Largest power of two strictly smaller than n (n > 1). */
const split = (n: number): number => 2 ** Math.floor(Math.log2(n - 1));

/** MTH(D[n]) over already leaf-hashed entries. */
export function merkleRoot(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return createHash('sha256').digest();
  if (leaves.length === 1) return leaves[0] as Buffer;
  const k = split(leaves.length);
  return nodeHash(merkleRoot(leaves.slice(0, k)), merkleRoot(leaves.slice(k)));
}

/** PATH(m, D[n]): the audit path, lowest level first. */
export function auditPath(m: number, leaves: Buffer[]): Buffer[] {
  if (leaves.length <= 1) return [];
  const k = split(leaves.length);
  return m < k
    ? [...auditPath(m, leaves.slice(0, k)), merkleRoot(leaves.slice(k))]
    : [...auditPath(m - k, leaves.slice(k)), merkleRoot(leaves.slice(0, k))];
}

const canonical = (value: Record<string, unknown>): string =>
  JSON.stringify(
    Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, value[k]]),
    ),
  );

export interface FakeRekor {
  url: string;
  /** Hex log id: sha256 of the log key's SPKI DER. */
  logID: string;
  publicKey: KeyObject;
  /** Canonicalized bodies in log order. */
  entries: Buffer[];
  /** Seconds added to the clock when integrating (to test certificate validity at integratedTime). */
  clockSkew: number;
  /** Entries appended by "other clients" before each new entry (so proofs have depth). */
  padding: number;
  /** Entries integrated in the same batch after each new entry (the proof is for the larger tree). */
  trailing: number;
  /** The `tlogs` item of a Sigstore trusted_root.json for this log. */
  trustedLog(): Record<string, unknown>;
  close(): Promise<void>;
}

/**
 * A fake Rekor (v1 API, `POST /api/v1/log/entries`): accepts `hashedrekord` 0.0.1 and `dsse` 0.0.1 entries after
 * checking their signature, appends the canonicalized body to an RFC 6962 Merkle tree, and answers with
 * `logIndex`, `integratedTime`, `logID`, a signed entry timestamp over the canonical
 * `{body, integratedTime, logID, logIndex}`, and an inclusion proof with a checkpoint (signed note) signed by the
 * log key.
 */
export async function startFakeRekor(): Promise<FakeRekor> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const logIDBytes = createHash('sha256').update(spki).digest();
  const logID = logIDBytes.toString('hex');
  const entries: Buffer[] = [];
  const state = { clockSkew: 0, padding: 0, trailing: 0 };
  const origin = '127.0.0.1 - 4242';
  let url = '';

  const append = (bodyBytes: Buffer): number => {
    entries.push(bodyBytes);
    return entries.length - 1;
  };

  const server = createServer(async (req, res) => {
    const text = await body(req);
    if (req.method !== 'POST' || req.url !== '/api/v1/log/entries') {
      json(res, 404, { code: 404, message: 'not found' });
      return;
    }
    let canonicalBody: Record<string, unknown>;
    try {
      canonicalBody = toCanonicalBody(JSON.parse(text));
    } catch (error) {
      json(res, 400, { code: 400, message: (error as Error).message });
      return;
    }
    const bodyBytes = Buffer.from(JSON.stringify(canonicalBody));
    const existing = entries.findIndex((e) => e.equals(bodyBytes));
    if (existing >= 0) {
      const uuid = leafHash(bodyBytes).toString('hex');
      json(
        res,
        409,
        { code: 409, message: 'an equivalent entry already exists in the transparency log' },
        {
          location: `/api/v1/log/entries/${uuid}`,
        },
      );
      return;
    }
    for (let i = 0; i < state.padding; i++) append(Buffer.from(`{"other":${entries.length}}`));
    const logIndex = append(bodyBytes);
    for (let i = 0; i < state.trailing; i++) append(Buffer.from(`{"other":${entries.length}}`));
    const integratedTime = Math.floor(Date.now() / 1000) + state.clockSkew;
    const encodedBody = bodyBytes.toString('base64');
    const set = nodeSign(
      'sha256',
      Buffer.from(canonical({ body: encodedBody, integratedTime, logID, logIndex })),
      privateKey,
    );
    const leaves = entries.map(leafHash);
    const root = merkleRoot(leaves);
    const note = `${origin}\n${leaves.length}\n${root.toString('base64')}\n`;
    const noteSig = nodeSign('sha256', Buffer.from(note), privateKey);
    const checkpoint = `${note}\n\u2014 127.0.0.1 ${Buffer.concat([logIDBytes.subarray(0, 4), noteSig]).toString('base64')}\n`;
    const uuid = leafHash(bodyBytes).toString('hex');
    json(
      res,
      201,
      {
        [uuid]: {
          body: encodedBody,
          integratedTime,
          logID,
          logIndex,
          verification: {
            signedEntryTimestamp: set.toString('base64'),
            inclusionProof: {
              logIndex,
              treeSize: leaves.length,
              rootHash: root.toString('hex'),
              hashes: auditPath(logIndex, leaves).map((h) => h.toString('hex')),
              checkpoint,
            },
          },
        },
      },
      { location: `/api/v1/log/entries/${uuid}` },
    );
  });
  url = await listen(server);
  return {
    url,
    logID,
    publicKey,
    entries,
    get clockSkew() {
      return state.clockSkew;
    },
    set clockSkew(v: number) {
      state.clockSkew = v;
    },
    get padding() {
      return state.padding;
    },
    get trailing() {
      return state.trailing;
    },
    set trailing(v: number) {
      state.trailing = v;
    },
    set padding(v: number) {
      state.padding = v;
    },
    trustedLog: () => ({
      baseUrl: url,
      hashAlgorithm: 'SHA2_256',
      publicKey: {
        rawBytes: spki.toString('base64'),
        keyDetails: 'PKIX_ECDSA_P256_SHA_256',
        validFor: { start: new Date(Date.now() - 3600_000).toISOString() },
      },
      logId: { keyId: logIDBytes.toString('base64') },
    }),
    close: () => close(server),
  };
}

/** Validate a proposed entry like Rekor does (the signature must verify) and return its canonicalized body. */
function toCanonicalBody(proposed: {
  apiVersion?: string;
  kind?: string;
  spec?: Record<string, never>;
}): Record<string, unknown> {
  const keyFromPem = (b64: string): KeyObject => {
    const pem = Buffer.from(b64, 'base64').toString('utf8');
    return pem.includes('CERTIFICATE') ? new X509Certificate(pem).publicKey : createPublicKey(pem);
  };
  if (proposed.kind === 'hashedrekord' && proposed.apiVersion === '0.0.1') {
    const spec = proposed.spec as unknown as {
      data: { hash: { algorithm: string; value: string } };
      signature: { content: string; publicKey: { content: string } };
    };
    const key = keyFromPem(spec.signature.publicKey.content);
    const digest = Buffer.from(spec.data.hash.value, 'hex');
    if (!verifyPrehashed(key, digest, Buffer.from(spec.signature.content, 'base64'))) {
      throw new Error('hashedrekord signature does not verify');
    }
    return {
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: {
        data: { hash: { algorithm: 'sha256', value: spec.data.hash.value } },
        signature: {
          content: spec.signature.content,
          publicKey: { content: spec.signature.publicKey.content },
        },
      },
    };
  }
  if (proposed.kind === 'dsse' && proposed.apiVersion === '0.0.1') {
    const spec = proposed.spec as unknown as { proposedContent: { envelope: string; verifiers: string[] } };
    const envelope = JSON.parse(spec.proposedContent.envelope) as {
      payloadType: string;
      payload: string;
      signatures: { sig: string }[];
    };
    const verifier = spec.proposedContent.verifiers[0] as string;
    const payload = Buffer.from(envelope.payload, 'base64');
    const type = Buffer.from(envelope.payloadType);
    const pae = Buffer.concat([
      Buffer.from(`DSSEv1 ${type.length} `),
      type,
      Buffer.from(` ${payload.length} `),
      payload,
    ]);
    const sig = envelope.signatures[0]?.sig ?? '';
    if (!nodeVerify('sha256', pae, keyFromPem(verifier), Buffer.from(sig, 'base64'))) {
      throw new Error('dsse signature does not verify');
    }
    const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
    return {
      apiVersion: '0.0.1',
      kind: 'dsse',
      spec: {
        envelopeHash: { algorithm: 'sha256', value: sha(spec.proposedContent.envelope) },
        payloadHash: { algorithm: 'sha256', value: sha(payload) },
        signatures: [{ signature: sig, verifier }],
      },
    };
  }
  throw new Error(`unsupported entry ${proposed.kind}/${proposed.apiVersion}`);
}

/** ECDSA P-256 verification of a signature over an already computed SHA-256 digest (openssl pkeyutl, as Node only
 * verifies messages). */
function verifyPrehashed(key: KeyObject, digest: Buffer, signature: Buffer): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'fake-rekor-'));
  try {
    writeFileSync(join(dir, 'k.pem'), key.export({ type: 'spki', format: 'pem' }));
    writeFileSync(join(dir, 'd.bin'), digest);
    writeFileSync(join(dir, 's.der'), signature);
    const r = spawnSync(
      'openssl',
      ['pkeyutl', '-verify', '-pubin', '-inkey', 'k.pem', '-in', 'd.bin', '-sigfile', 's.der'],
      { cwd: dir, encoding: 'utf8' },
    );
    return r.status === 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface FakeTsa {
  url: string;
  dir: string;
  /** PEM of the TSA signing certificate and its root (leaf first). */
  chainPem(): Promise<string[]>;
  /** The `timestampAuthorities` item of a Sigstore trusted_root.json for this TSA. */
  trustedAuthority(): Promise<Record<string, unknown>>;
  /** Answer the next request with the previous response (a replay). */
  replayNext: boolean;
  requests: number;
  close(): Promise<void>;
}

/**
 * A fake RFC 3161 timestamp authority: `openssl ts -reply` answers each DER TimeStampReq posted as
 * application/timestamp-query, signing with a P-256 TSA certificate (EKU timeStamping, critical) under its own root.
 */
export async function startFakeTsa(): Promise<FakeTsa> {
  const dir = await mkdtemp(join(tmpdir(), 'fake-tsa-'));
  makeCa(dir, 'tsa-root');
  await writeFile(
    join(dir, 'leaf.cnf'),
    'extendedKeyUsage=critical,timeStamping\nkeyUsage=critical,digitalSignature\n',
  );
  openssl(
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'tsa.key',
      '-out',
      'tsa.csr',
      '-subj',
      '/CN=fake-tsa',
    ],
    dir,
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'tsa.csr',
      '-CA',
      'tsa-root.pem',
      '-CAkey',
      'tsa-root.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      'leaf.cnf',
      '-out',
      'tsa.pem',
    ],
    dir,
  );
  await writeFile(join(dir, 'tsaserial'), '01\n');
  await writeFile(
    join(dir, 'ts.cnf'),
    [
      '[ tsa ]',
      'default_tsa = tsa_config',
      '[ tsa_config ]',
      `serial = ${join(dir, 'tsaserial')}`,
      'crypto_device = builtin',
      `signer_cert = ${join(dir, 'tsa.pem')}`,
      `certs = ${join(dir, 'tsa-root.pem')}`,
      `signer_key = ${join(dir, 'tsa.key')}`,
      'signer_digest = sha256',
      'default_policy = 1.3.6.1.4.1.57264.99.1',
      'digests = sha256, sha384, sha512',
      'accuracy = secs:1',
      'ordering = no',
      'tsa_name = yes',
      'ess_cert_id_chain = no',
      'ess_cert_id_alg = sha256',
      '',
    ].join('\n'),
  );
  const state = { replayNext: false, requests: 0, last: Buffer.alloc(0) };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    state.requests++;
    if (req.headers['content-type'] !== 'application/timestamp-query') {
      res.writeHead(415).end();
      return;
    }
    if (state.replayNext && state.last.length) {
      state.replayNext = false;
      res.writeHead(200, { 'content-type': 'application/timestamp-reply' }).end(state.last);
      return;
    }
    const n = state.requests;
    await writeFile(join(dir, `q${n}.tsq`), Buffer.concat(chunks));
    const r = spawnSync(
      'openssl',
      ['ts', '-reply', '-config', 'ts.cnf', '-queryfile', `q${n}.tsq`, '-out', `r${n}.tsr`],
      { cwd: dir, encoding: 'utf8' },
    );
    if (r.status !== 0) {
      res.writeHead(400).end(r.stderr);
      return;
    }
    state.last = await readFile(join(dir, `r${n}.tsr`));
    res.writeHead(200, { 'content-type': 'application/timestamp-reply' }).end(state.last);
  });
  const url = await listen(server);
  const chainPem = async () => [
    await readFile(join(dir, 'tsa.pem'), 'utf8'),
    await readFile(join(dir, 'tsa-root.pem'), 'utf8'),
  ];
  return {
    url: `${url}/api/v1/timestamp`,
    dir,
    chainPem,
    async trustedAuthority() {
      return {
        subject: { organization: 'drover tests', commonName: 'fake-tsa' },
        certChain: {
          certificates: (await chainPem()).map((pem) => ({
            rawBytes: new X509Certificate(pem).raw.toString('base64'),
          })),
        },
        validFor: { start: new Date(Date.now() - 3600_000).toISOString() },
      };
    },
    get replayNext() {
      return state.replayNext;
    },
    set replayNext(v: boolean) {
      state.replayNext = v;
    },
    get requests() {
      return state.requests;
    },
    async close() {
      await close(server);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

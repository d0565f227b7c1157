import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BlobStore, type Descriptor, MediaType, openLayout, RegistryClient } from '../src/index.js';
import { tempDir } from './helpers.js';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;

/** A local HTTP fixture that answers as a test tells it to: for replies docker-registry never gives. */
async function startFixture(): Promise<{
  host: string;
  handle: Handler;
  seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }>;
  close(): Promise<void>;
}> {
  const fixture = {
    host: '',
    handle: ((_req, res) => res.writeHead(404).end()) as Handler,
    seen: [] as Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }>,
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      fixture.seen.push({ method: req.method!, url: req.url!, headers: req.headers });
      fixture.handle(req, res, Buffer.concat(parts));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fixture.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  fixture.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return fixture;
}

const sha = (b: Uint8Array): `sha256:${string}` => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const json = (res: http.ServerResponse, status: number, body: unknown, headers = {}): void => {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': bytes.length, ...headers });
  res.end(bytes);
};

describe('registry client against a local HTTP fixture (replies docker-registry 2.8 never gives)', () => {
  let fixture: Awaited<ReturnType<typeof startFixture>>;
  let other: Awaited<ReturnType<typeof startFixture>>;
  let dir: string;
  let cleanup: () => Promise<void>;
  let store: BlobStore;
  let client: RegistryClient;
  const fast = { baseDelayMs: 1, maxDelayMs: 5 };

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    fixture = await startFixture();
    other = await startFixture();
    store = (await openLayout({ dir: join(dir, 'store'), create: true })).blobs;
    client = new RegistryClient({ registry: fixture.host, plainHttp: true, credentials: null, retry: fast });
  });
  afterAll(async () => {
    client.close();
    await fixture.close();
    await other.close();
    await cleanup();
  });

  const blobDescriptor = (data: Buffer): Descriptor => ({
    mediaType: 'application/octet-stream',
    digest: sha(data),
    size: data.length,
  });

  it('starts over when a registry ignores Range on a resumed download (large blob, hashed on a worker)', async () => {
    const data = randomBytes((2 << 20) + 99);
    let gets = 0;
    fixture.handle = (_req, res) => {
      gets++;
      res.writeHead(200, { 'Content-Length': data.length });
      if (gets === 1) {
        res.write(data.subarray(0, 1 << 20), () => res.socket?.destroy());
        return;
      }
      res.end(data); // the resumed request asked for a Range; this registry sends everything again
    };
    expect(await client.fetchBlob('app', blobDescriptor(data), store)).toEqual({ downloaded: true });
    expect(gets).toBe(2);
    expect(fixture.seen.at(-1)!.headers.range).toMatch(/^bytes=\d+-$/);
    expect((await readFile(store.path(sha(data)))).equals(data)).toBe(true);
    expect(await client.fetchBlob('app', blobDescriptor(data), store)).toEqual({ downloaded: false });
  });

  it('refuses a 206 that starts elsewhere, oversized bodies and wrong bytes, keeping nothing', async () => {
    const before = await store.list();
    const data = randomBytes(3 << 20);
    let gets = 0;
    fixture.handle = (req, res) => {
      gets++;
      if (!req.headers.range) {
        res.writeHead(200, { 'Content-Length': data.length });
        res.write(data.subarray(0, 1 << 20), () => res.socket?.destroy());
        return;
      }
      res.writeHead(206, { 'Content-Range': `bytes 5-${data.length - 1}/${data.length}` });
      res.end(data.subarray(5));
    };
    await expect(client.fetchBlob('app', blobDescriptor(data), store)).rejects.toMatchObject({
      code: 'REGISTRY_RANGE_MISMATCH',
    });
    expect(gets).toBe(2);
    for (const size of [10, 2 << 20]) {
      const want = randomBytes(size);
      fixture.handle = (_req, res) => res.writeHead(200).end(Buffer.concat([want, Buffer.from('extra')]));
      await expect(client.fetchBlob('app', blobDescriptor(want), store)).rejects.toMatchObject({
        code: 'SIZE_MISMATCH',
        kind: 'integrity',
      });
      const served = randomBytes(size);
      fixture.handle = (_req, res) => res.writeHead(200).end(served);
      await expect(client.fetchBlob('app', blobDescriptor(want), store)).rejects.toMatchObject({
        code: 'DIGEST_MISMATCH',
        kind: 'integrity',
      });
      fixture.handle = (_req, res) => res.writeHead(200).end(want.subarray(1));
      await expect(client.fetchBlob('app', blobDescriptor(want), store)).rejects.toMatchObject({
        code: 'SIZE_MISMATCH',
      });
    }
    expect(await store.list()).toEqual(before);
  });

  it('follows a blob redirect to another origin without sending the credentials there', async () => {
    const data = Buffer.from('redirected blob');
    const basic = `Basic ${Buffer.from('alice:pw').toString('base64')}`;
    fixture.handle = (req, res) => {
      if (req.headers.authorization !== basic) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="fixture"' }).end();
        return;
      }
      res.writeHead(307, { Location: `http://${other.host}/storage/blob?sig=1` }).end();
    };
    other.handle = (_req, res) => res.writeHead(200).end(data);
    const authed = new RegistryClient({
      registry: fixture.host,
      plainHttp: true,
      credentials: { username: 'alice', password: 'pw' },
    });
    try {
      await authed.fetchBlob('app', blobDescriptor(data), store);
      expect((await readFile(store.path(sha(data)))).toString()).toBe('redirected blob');
      expect(other.seen.at(-1)!.headers.authorization).toBeUndefined();
      expect(fixture.seen.at(-1)!.headers.authorization).toBe(basic);
    } finally {
      authed.close();
    }
  });

  it('checks manifest digests and sizes from headers and bodies', async () => {
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: sha(Buffer.from('{}')), size: 2 },
        layers: [],
      }),
    );
    fixture.handle = (req, res) => {
      const headers = { 'Content-Type': MediaType.OciManifest, 'Content-Length': manifest.length };
      if (req.url!.endsWith('/lying'))
        res.writeHead(200, { ...headers, 'Docker-Content-Digest': sha(Buffer.from('x')) }).end(manifest);
      else if (req.url!.endsWith('/huge'))
        res.writeHead(200, { 'Content-Type': MediaType.OciManifest, 'Content-Length': 5 << 20 }).end();
      else if (req.method === 'HEAD')
        res.writeHead(200, headers).end(); // no Docker-Content-Digest
      else res.writeHead(200, headers).end(manifest);
    };
    await expect(client.getManifest('app', 'lying')).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    await expect(client.getManifest('app', 'huge')).rejects.toMatchObject({ code: 'OCI_MANIFEST_TOO_LARGE' });
    expect(await client.headManifest('app', 'v1')).toEqual({
      mediaType: MediaType.OciManifest,
      digest: sha(manifest),
      size: manifest.length,
    });
    await expect(
      client.putManifest('app', sha(Buffer.from('other')), manifest, MediaType.OciManifest),
    ).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    fixture.handle = (_req, res) =>
      res.writeHead(201, { 'Docker-Content-Digest': sha(Buffer.from('not it')) }).end();
    await expect(client.putManifest('app', 'v1', manifest, MediaType.OciManifest)).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
    });
  });

  it('pages tags with Link, deletes manifests and maps error statuses to codes', async () => {
    fixture.handle = (req, res) => {
      const url = new URL(req.url!, 'http://f');
      if (url.pathname.endsWith('/tags/list')) {
        if (url.searchParams.get('last') === 'b') json(res, 200, { name: 'app', tags: ['c'] });
        else
          json(
            res,
            200,
            { name: 'app', tags: ['a', 'b'] },
            { Link: '</v2/app/tags/list?last=b&n=2>; rel="next"' },
          );
      } else if (req.method === 'DELETE') res.writeHead(url.pathname.includes('gone') ? 405 : 202).end();
      else if (url.pathname.startsWith('/v2/app/manifests/sha256:') || url.pathname.startsWith('/v2/gone/'))
        json(res, 404, { errors: [{ code: 'MANIFEST_UNKNOWN' }] });
      else if (url.pathname.includes('/limited/')) res.writeHead(429, { 'Retry-After': '0' }).end();
      else if (url.pathname.includes('/bad/'))
        json(res, 400, { errors: [{ code: 'NAME_INVALID', message: 'bad name' }] });
      else if (url.pathname.includes('/denied/')) json(res, 403, { errors: [{ code: 'DENIED' }] });
      else res.writeHead(500).end('not json');
    };
    expect(await client.listTags('app')).toEqual(['a', 'b', 'c']);
    await client.deleteManifest('app', sha(Buffer.from('m')));
    await expect(client.deleteManifest('gone', sha(Buffer.from('m')))).rejects.toMatchObject({
      code: 'REGISTRY_ERROR',
    });
    await expect(client.getManifest('limited/app', 'v1')).rejects.toMatchObject({
      code: 'REGISTRY_TOO_MANY_REQUESTS',
      kind: 'unavailable',
    });
    await expect(client.getManifest('bad/app', 'v1')).rejects.toMatchObject({
      code: 'REGISTRY_ERROR',
      kind: 'input',
      details: { codes: ['NAME_INVALID'] },
    });
    await expect(client.getManifest('denied/app', 'v1')).rejects.toMatchObject({ code: 'REGISTRY_DENIED' });
    await expect(client.hasBlob('app', sha(Buffer.from('b')))).rejects.toMatchObject({
      code: 'REGISTRY_UNAVAILABLE',
    });
    await expect(client.openBlob('app', sha(Buffer.from('b')))).rejects.toMatchObject({
      code: 'REGISTRY_UNAVAILABLE',
    });
    // an upload session without a Location
    fixture.handle = (req, res) => res.writeHead(req.method === 'HEAD' ? 404 : 202).end();
    const blob = Buffer.from('x');
    await expect(
      client.pushBlob('app', blobDescriptor(blob), { open: () => Readable.from([blob]) }),
    ).rejects.toMatchObject({ code: 'REGISTRY_PROTOCOL' });
  });

  it('reports token service failures, retries a busy one, and aborts during a backoff', async () => {
    let tokenReplies: Array<(res: http.ServerResponse) => void> = [];
    other.handle = (_req, res) => (tokenReplies.shift() ?? ((r) => json(r, 200, { token: 'tok' })))(res);
    fixture.handle = (req, res) => {
      if (req.headers.authorization === 'Bearer tok') json(res, 200, {});
      else if (req.url!.includes('norealm'))
        res.writeHead(401, { 'WWW-Authenticate': 'Bearer service="x"' }).end();
      else
        res
          .writeHead(401, {
            'WWW-Authenticate': `Bearer realm="http://${other.host}/token",service="fixture"`,
          })
          .end();
    };
    const make = () =>
      new RegistryClient({ registry: fixture.host, plainHttp: true, credentials: null, retry: fast });
    const cases: Array<[Array<(res: http.ServerResponse) => void>, string | undefined]> = [
      [[(r) => r.writeHead(500).end()], 'REGISTRY_AUTH_FAILED'],
      [[(r) => json(r, 200, { expires_in: 60 })], 'REGISTRY_AUTH_FAILED'],
      [[(r) => r.writeHead(503, { 'Retry-After': '0' }).end()], undefined],
    ];
    for (const [replies, code] of cases) {
      tokenReplies = replies;
      const c = make();
      try {
        if (code) await expect(c.ping()).rejects.toMatchObject({ code });
        else await c.ping();
      } finally {
        c.close();
      }
    }
    const c = make();
    await expect(c.getManifest('norealm', 'v1')).rejects.toMatchObject({ code: 'REGISTRY_AUTH_INVALID' });
    c.close();
    fixture.handle = (_req, res) => res.writeHead(503, { 'Retry-After': '30' }).end();
    const slow = new RegistryClient({
      registry: fixture.host,
      plainHttp: true,
      credentials: null,
      retry: { retries: 3, maxDelayMs: 60_000 },
    });
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 100);
    await expect(slow.ping({ signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' });
    expect(Date.now() - started).toBeLessThan(5_000);
    slow.close();
  });
});

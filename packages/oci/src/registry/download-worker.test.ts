import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, tempDir } from '../../test/helpers.js';
import type { BlobStore } from '../blob-store.js';
import { openLayout } from '../layout.js';
import type { Descriptor } from '../media-types.js';
import { RegistryClient } from './client.js';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, nth: number) => void;

interface Fixture {
  host: string;
  handle: Handler;
  /** Requests seen: method, url, headers. */
  seen: http.IncomingHttpHeaders[];
  /** Connections accepted. */
  connections: number;
  close(): Promise<void>;
}

/** A local HTTP(S) server answering as each test tells it; `nth` counts requests on the same connection. */
async function startFixture(tls?: { key: Buffer; cert: Buffer }): Promise<Fixture> {
  const fixture: Fixture = {
    host: '',
    handle: (_req, res) => res.writeHead(404).end(),
    seen: [],
    connections: 0,
    close: async () => {},
  };
  const perSocket = new WeakMap<Socket, number>();
  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const nth = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, nth);
    fixture.seen.push(req.headers);
    req.resume();
    fixture.handle(req, res, nth);
  };
  const server = tls ? https.createServer(tls, listener) : http.createServer(listener);
  server.on(tls ? 'secureConnection' : 'connection', () => fixture.connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fixture.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  fixture.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return fixture;
}

const blobOf = (data: Buffer): Descriptor => ({
  mediaType: 'application/octet-stream',
  digest: `sha256:${createHash('sha256').update(data).digest('hex')}`,
  size: data.length,
});

describe('blob downloads on worker threads', () => {
  let fixture: Fixture;
  let dir: string;
  let cleanup: () => Promise<void>;
  let store: BlobStore;
  let n = 0;
  const fresh = async (): Promise<BlobStore> =>
    (await openLayout({ dir: join(dir, `store${n++}`), create: true })).blobs;
  const fast = { baseDelayMs: 1, maxDelayMs: 5 };

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    fixture = await startFixture();
    store = await fresh();
  });
  afterAll(async () => {
    await fixture.close();
    await cleanup();
  });

  it('streams Content-Length and chunked bodies over one kept-alive connection, reporting progress', async () => {
    const client = new RegistryClient({
      registry: fixture.host,
      plainHttp: true,
      credentials: null,
      downloadWorkers: 1,
    });
    try {
      fixture.connections = 0;
      const blobs = [randomBytes((1 << 20) + 1), randomBytes(3 << 20), randomBytes((2 << 20) + 12345)];
      fixture.handle = (req, res) => {
        const data = blobs.find((b) => String(req.url).endsWith(blobOf(b).digest))!;
        if (data === blobs[1]) {
          // chunked transfer coding, in uneven writes
          res.writeHead(200);
          for (let at = 0; at < data.length; at += 100_003) res.write(data.subarray(at, at + 100_003));
          res.end();
        } else res.writeHead(200, { 'Content-Length': data.length }).end(data);
      };
      for (const data of blobs) {
        let progress = 0;
        const onBytes = (b: number): void => {
          progress += b;
        };
        const r = await client.fetchBlob('app', blobOf(data), store, { onBytes });
        expect(r).toEqual({ downloaded: true });
        expect(progress).toBe(data.length);
        expect((await readFile(store.path(blobOf(data).digest))).equals(data)).toBe(true);
      }
      expect(fixture.connections).toBe(1);
    } finally {
      client.close();
    }
  });

  it('retries at once on a new connection when a kept-alive one turns out closed', async () => {
    // no client retries: only the worker's own retry of a stale connection can save the second download
    const client = new RegistryClient({
      registry: fixture.host,
      plainHttp: true,
      credentials: null,
      downloadWorkers: 1,
      retry: { retries: 0 },
    });
    try {
      fixture.connections = 0;
      const a = randomBytes(1 << 20);
      const b = randomBytes(1 << 20);
      fixture.handle = (req, res, nth) => {
        if (nth > 1) {
          req.socket.destroy(); // as a server whose keep-alive timeout just ran out
          return;
        }
        const data = req.url!.endsWith(blobOf(a).digest) ? a : b;
        res.writeHead(200, { 'Content-Length': data.length }).end(data);
      };
      const target = await fresh();
      await client.fetchBlob('app', blobOf(a), target);
      await client.fetchBlob('app', blobOf(b), target);
      expect(fixture.connections).toBe(2);
      expect((await readFile(target.path(blobOf(b).digest))).equals(b)).toBe(true);
    } finally {
      client.close();
    }
  });

  it('resumes after a stalled transfer times out, with a Range from what was written', async () => {
    const client = new RegistryClient({
      registry: fixture.host,
      plainHttp: true,
      credentials: null,
      timeoutMs: 300,
      retry: fast,
    });
    try {
      const data = randomBytes(3 << 20);
      let gets = 0;
      fixture.handle = (req, res) => {
        gets++;
        if (gets === 1) {
          res.writeHead(200, { 'Content-Length': data.length });
          res.write(data.subarray(0, 1 << 20)); // then nothing
          return;
        }
        const from = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1]);
        res
          .writeHead(206, {
            'Content-Length': data.length - from,
            'Content-Range': `bytes ${from}-${data.length - 1}/${data.length}`,
          })
          .end(data.subarray(from));
      };
      await client.fetchBlob('app', blobOf(data), store);
      expect(gets).toBe(2);
      expect(fixture.seen.at(-1)!.range).toMatch(/^bytes=[1-9]\d*-$/);
      expect((await readFile(store.path(blobOf(data).digest))).equals(data)).toBe(true);
    } finally {
      client.close();
    }
  });

  it('aborts a transfer in flight and keeps nothing', async () => {
    const client = new RegistryClient({ registry: fixture.host, plainHttp: true, credentials: null });
    try {
      const data = randomBytes(4 << 20);
      fixture.handle = (_req, res) => {
        res.writeHead(200, { 'Content-Length': data.length });
        res.write(data.subarray(0, 2 << 20)); // then stall until the client gives up
      };
      const controller = new AbortController();
      const target = await fresh();
      let progress = 0;
      const fetching = client.fetchBlob(
        'app',
        blobOf(data),
        target,
        {
          onBytes: (b) => {
            progress += b;
            if (progress >= 1 << 20) controller.abort();
          },
        },
        { signal: controller.signal },
      );
      await expect(fetching).rejects.toMatchObject({ code: 'ABORTED' });
      expect(await target.list()).toEqual([]);
      // not even the temp file the worker was writing
      expect(await readdir(join(dir, `store${n - 1}`, 'blobs', 'sha256'))).toEqual([]);
    } finally {
      client.close();
    }
  });

  it('goes through auth, Retry-After and a redirect elsewhere on the worker, sending credentials only to the registry', async () => {
    const other = await startFixture();
    const data = randomBytes((1 << 20) + 5);
    const basic = `Basic ${Buffer.from('alice:pw').toString('base64')}`;
    let busy = 0;
    fixture.handle = (req, res) => {
      if (req.headers.authorization !== basic) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="fixture"', 'Content-Length': 2 }).end('no');
        return;
      }
      if (busy++ === 0) {
        res.writeHead(429, { 'Retry-After': '0' }).end('slow down');
        return;
      }
      res.writeHead(307, { Location: `http://${other.host}/storage/blob?sig=1` }).end();
    };
    other.handle = (_req, res) => res.writeHead(200, { 'Content-Length': data.length }).end(data);
    const client = new RegistryClient({
      registry: fixture.host,
      plainHttp: true,
      credentials: { username: 'alice', password: 'pw' },
      retry: fast,
    });
    try {
      fixture.seen.length = 0;
      await client.fetchBlob('app', blobOf(data), store);
      expect((await readFile(store.path(blobOf(data).digest))).equals(data)).toBe(true);
      expect(fixture.seen.map((h) => h.authorization)).toEqual([undefined, basic, basic]);
      expect(other.seen.map((h) => h.authorization)).toEqual([undefined]);
    } finally {
      client.close();
      await other.close();
    }
  });

  it('reports the registry error of a failed blob request', async () => {
    const client = new RegistryClient({ registry: fixture.host, plainHttp: true, credentials: null });
    try {
      fixture.handle = (_req, res) => {
        const body = JSON.stringify({
          errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry' }],
        });
        res.writeHead(404, { 'Content-Type': 'application/json', 'Content-Length': body.length }).end(body);
      };
      await expect(client.fetchBlob('app', blobOf(randomBytes(2 << 20)), store)).rejects.toMatchObject({
        code: 'REGISTRY_NOT_FOUND',
        message: expect.stringContaining('BLOB_UNKNOWN'),
      });
    } finally {
      client.close();
    }
  });

  it('downloads on the calling thread with downloadWorkers: 0', async () => {
    const client = new RegistryClient({
      registry: fixture.host,
      plainHttp: true,
      credentials: null,
      downloadWorkers: 0,
    });
    try {
      const data = randomBytes(2 << 20);
      fixture.handle = (_req, res) => res.writeHead(200, { 'Content-Length': data.length }).end(data);
      const target = await fresh();
      await client.fetchBlob('app', blobOf(data), target);
      expect((await readFile(target.path(blobOf(data).digest))).equals(data)).toBe(true);
    } finally {
      client.close();
    }
  });

  it('downloads over HTTPS, trusting only the CAs it is given', async () => {
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=fixture',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-days',
      '1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    const cert = await readFile(join(dir, 'cert.pem'));
    const secure = await startFixture({ key: await readFile(join(dir, 'key.pem')), cert });
    const data = randomBytes((2 << 20) + 3);
    secure.handle = (_req, res) => {
      res.writeHead(200);
      res.end(data); // chunked
    };
    const untrusting = new RegistryClient({
      registry: secure.host,
      credentials: null,
      retry: { retries: 0 },
    });
    const trusting = new RegistryClient({
      registry: secure.host,
      credentials: null,
      caCertificates: [cert.toString()],
    });
    try {
      await expect(untrusting.fetchBlob('app', blobOf(data), await fresh())).rejects.toMatchObject({
        code: 'REGISTRY_UNREACHABLE',
      });
      const target = await fresh();
      await trusting.fetchBlob('app', blobOf(data), target);
      expect((await readFile(target.path(blobOf(data).digest))).equals(data)).toBe(true);
    } finally {
      untrusting.close();
      trusting.close();
      await secure.close();
    }
  });
});

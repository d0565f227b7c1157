import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { startTestRegistry, type TestRegistry } from '@drover/test-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Descriptor,
  EMPTY_DESCRIPTOR,
  flattenImage,
  flattenSource,
  type ImageIndex,
  type ImageLayout,
  type ImageManifest,
  inspectImage,
  listTree,
  MediaType,
  manifestDigest,
  openLayout,
  pullImage,
  pushImage,
  RegistryClient,
  resolveImageSource,
  writeImage,
} from '../src/index.js';
import { run, tempDir } from './helpers.js';
import { startFaultProxy } from './proxy.js';

const plain = { plainHttp: true, credentials: null, retry: { baseDelayMs: 10, maxDelayMs: 200 } } as const;

describe('registry client against docker-registry 2.8', () => {
  let registry: TestRegistry;
  let dir: string;
  let cleanup: () => Promise<void>;
  let layout: ImageLayout;
  let big: Buffer;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    registry = await startTestRegistry({ secret: 'fixed-secret-for-tests' });
    layout = await openLayout({ dir: join(dir, 'src'), create: true });
    big = randomBytes(3 << 20); // incompressible: the layer blob is ~3 MiB
    const amd = await writeImage({
      layout,
      tag: 'v1',
      layers: [
        {
          entries: [
            { path: 'etc/', type: 'dir' },
            { path: 'etc/os-release', type: 'file', content: 'ID=drover\n' },
          ],
        },
        { entries: [{ path: 'big.bin', type: 'file', content: big }] },
      ],
    });
    const arm = await writeImage({
      layout,
      platform: { os: 'linux', architecture: 'arm64' },
      layers: [{ entries: [{ path: 'arch', type: 'file', content: 'arm64' }] }],
    });
    const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [amd, arm] };
    await layout.tag(await layout.putManifest(index), 'multi');
  });
  afterAll(async () => {
    await registry?.stop();
    await cleanup();
  });

  it('pushes an image that skopeo copies out with the same digest, and pulls it back', async () => {
    const pushed = await pushImage({
      layout: layout.dir,
      source: 'v1',
      reference: `${registry.host}/app:v1`,
      registry: plain,
    });
    const local = await layout.resolve('v1');
    expect(pushed.digest).toBe(local.digest);
    expect(pushed.blobs.uploaded).toBe(3);
    const again = await pushImage({
      layout: layout.dir,
      source: 'v1',
      reference: `${registry.host}/app:v1`,
      registry: plain,
    });
    expect(again.blobs.existing).toBe(3);
    await run('skopeo', [
      'copy',
      '-q',
      '--src-tls-verify=false',
      `docker://${registry.host}/app:v1`,
      `oci:${join(dir, 'sk')}:v1`,
    ]);
    const { stdout } = await run('skopeo', ['inspect', '--raw', `oci:${join(dir, 'sk')}:v1`]);
    expect(`sha256:${require('node:crypto').createHash('sha256').update(stdout).digest('hex')}`).toBe(
      local.digest,
    );
    const pulled = await pullImage({
      reference: `${registry.host}/app:v1`,
      layout: join(dir, 'pulled'),
      registry: plain,
    });
    expect(pulled).toMatchObject({ digest: local.digest, downloaded: 3, tag: 'v1' });
    const { tree } = await flattenImage({ layout: join(dir, 'pulled'), reference: 'v1' });
    expect(tree.get('big.bin')!.inode.size).toBe(big.length);
  });

  it('pulls what skopeo pushed (Docker v2 media types) with identical digests', async () => {
    await run('skopeo', [
      'copy',
      '-q',
      '--dest-tls-verify=false',
      '--format',
      'v2s2',
      `oci:${layout.dir}:v1`,
      `docker://${registry.host}/skopeo/app:docker`,
    ]);
    const head = await run('skopeo', [
      'inspect',
      '--tls-verify=false',
      '--raw',
      `docker://${registry.host}/skopeo/app:docker`,
    ]);
    const manifest = JSON.parse(head.stdout) as ImageManifest;
    expect(manifest.mediaType).toBe(MediaType.DockerManifest);
    const pulled = await pullImage({
      reference: `${registry.host}/skopeo/app:docker`,
      layout: join(dir, 'docker'),
      registry: plain,
    });
    const { tree, image } = await flattenImage({ layout: join(dir, 'docker'), reference: 'docker' });
    expect(image.manifest.layers[0]!.mediaType).toBe(MediaType.DockerLayerGzip);
    expect(pulled.digest).toBe(
      `sha256:${require('node:crypto').createHash('sha256').update(head.stdout).digest('hex')}`,
    );
    expect(tree.get('etc/os-release')?.inode.size).toBe(10);
  });

  it('pushes a multi-arch index and pulls one platform or all of them', async () => {
    const pushed = await pushImage({
      layout: layout.dir,
      source: 'multi',
      reference: `${registry.host}/multi:1`,
      registry: plain,
    });
    expect(pushed.mediaType).toBe(MediaType.OciIndex);
    const arm = await pullImage({
      reference: `${registry.host}/multi:1`,
      layout: join(dir, 'arm'),
      platform: { os: 'linux', architecture: 'aarch64' },
      registry: plain,
    });
    const armImage = await (await openLayout({ dir: join(dir, 'arm') })).resolveImage('1');
    expect(armImage.config.architecture).toBe('arm64');
    expect(arm.manifests).toHaveLength(1);
    const all = await pullImage({
      reference: `${registry.host}/multi@${pushed.digest}`,
      layout: join(dir, 'all'),
      all: true,
      tag: 'all',
      registry: plain,
    });
    expect(all.digest).toBe(pushed.digest);
    expect(all.manifests).toHaveLength(2);
    await run('skopeo', [
      'copy',
      '-q',
      '--all',
      '--src-tls-verify=false',
      `docker://${registry.host}/multi:1`,
      `oci:${join(dir, 'sk-all')}:x`,
    ]);
    const sk = await openLayout({ dir: join(dir, 'sk-all') });
    expect((await sk.resolve('x')).digest).toBe(pushed.digest);
  });

  it('uploads in chunks and mounts across repositories', async () => {
    const client = new RegistryClient({ ...plain, registry: registry.host, chunkSize: 1 << 20 });
    try {
      const data = randomBytes((2 << 20) + 12345);
      const blob = await layout.blobs.putBytes(data);
      const desc = { mediaType: 'application/octet-stream', digest: blob.digest, size: blob.size };
      const open = (start: number) => layout.blobs.open(blob.digest, { start });
      expect(await client.pushBlob('chunks/a', desc, { open })).toBe('uploaded');
      expect(await client.pushBlob('chunks/b', desc, { open, mountFrom: 'chunks/a' })).toBe('mounted');
      expect(await client.pushBlob('chunks/b', desc, { open })).toBe('exists');
      const store = (await openLayout({ dir: join(dir, 'chunks'), create: true })).blobs;
      await client.fetchBlob('chunks/b', desc, store);
      const got = await readFile(store.path(blob.digest));
      expect(got.equals(data)).toBe(true);
    } finally {
      client.close();
    }
  });

  it('pushes OCI 1.1 artifacts with a subject and lists referrers through the tag fallback', async () => {
    const client = new RegistryClient({ ...plain, registry: registry.host });
    try {
      const subject = await client.headManifest('app', 'v1');
      expect(subject).toBeDefined();
      const sig = Buffer.from('{"signature":"demo"}');
      const sigBlob = await layout.blobs.putBytes(sig);
      const empty = await layout.blobs.putBytes(Buffer.from('{}'));
      expect(empty.digest).toBe(EMPTY_DESCRIPTOR.digest);
      for (const [d, b] of [
        [sigBlob.digest, sig],
        [empty.digest, Buffer.from('{}')],
      ] as const) {
        await client.pushBlob(
          'app',
          { mediaType: 'application/octet-stream', digest: d, size: b.length },
          { open: () => Readable.from([b]) },
        );
      }
      const artifact: ImageManifest = {
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        artifactType: 'application/vnd.drover.signature.v1+json',
        config: { ...EMPTY_DESCRIPTOR },
        layers: [
          { mediaType: 'application/vnd.drover.signature.v1+json', digest: sigBlob.digest, size: sig.length },
        ],
        subject: { mediaType: subject!.mediaType, digest: subject!.digest, size: subject!.size },
        annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' },
      };
      const bytes = Buffer.from(JSON.stringify(artifact));
      const pushed = await client.putManifest(
        'app',
        `sha256:${require('node:crypto').createHash('sha256').update(bytes).digest('hex')}`,
        bytes,
        MediaType.OciManifest,
      );
      const refs = await client.referrers('app', subject!.digest);
      expect(refs.source).toBe('tag');
      expect(refs.descriptors).toEqual([
        expect.objectContaining({
          digest: pushed.digest,
          artifactType: 'application/vnd.drover.signature.v1+json',
        }),
      ]);
      expect((await client.referrers('app', subject!.digest, { artifactType: 'other' })).descriptors).toEqual(
        [],
      );
      // pushing again does not duplicate the entry
      await client.putManifest('app', pushed.digest, bytes, MediaType.OciManifest);
      expect((await client.referrers('app', subject!.digest)).descriptors).toHaveLength(1);
      expect(await client.listTags('app')).toContain(`sha256-${subject!.digest.slice(7)}`);
    } finally {
      client.close();
    }
  });

  it('inspects and flattens from a layout or straight from the registry', async () => {
    const remote = await inspectImage({
      source: `${registry.host}/multi:1`,
      platform: { os: 'linux', architecture: 'arm64' },
      registry: plain,
    });
    expect(remote).toMatchObject({
      platform: 'linux/arm64',
      index: { platforms: ['linux/amd64', 'linux/arm64'] },
    });
    const local = await inspectImage({ source: `oci:${layout.dir}:v1` });
    expect(local.layers).toHaveLength(2);
    expect(local.size).toBeGreaterThan(big.length);
    expect(await resolveImageSource(`${layout.dir}:v1`)).toEqual({
      kind: 'layout',
      dir: layout.dir,
      reference: 'v1',
    });
    expect(await resolveImageSource(layout.dir)).toEqual({ kind: 'layout', dir: layout.dir });
    const { tree } = await flattenSource({
      source: `${registry.host}/app:v1`,
      cacheDir: join(dir, 'cache'),
      registry: plain,
    });
    const listing = listTree(tree);
    expect(listing.map((e) => e.path)).toEqual(['/', '/big.bin', '/etc', '/etc/os-release']);
    expect(listing[3]).toMatchObject({ type: 'file', mode: '0644', size: 10, uid: 0 });
  });

  it('reports missing images and repositories with codes', async () => {
    const client = new RegistryClient({ ...plain, registry: registry.host });
    try {
      await expect(client.getManifest('app', 'nope')).rejects.toMatchObject({
        code: 'REGISTRY_NOT_FOUND',
        kind: 'not-found',
      });
      await expect(
        pullImage({ reference: `${registry.host}/nothing/here:1`, layout: join(dir, 'x'), registry: plain }),
      ).rejects.toMatchObject({
        code: 'REGISTRY_NOT_FOUND',
      });
      const https = new RegistryClient({ registry: registry.host, credentials: null, retry: { retries: 0 } });
      await expect(https.ping()).rejects.toMatchObject({ code: 'REGISTRY_UNREACHABLE' });
      https.close();
    } finally {
      client.close();
    }
  });

  describe('through a fault-injecting proxy', () => {
    it('resumes an interrupted blob download with Range and keeps the digest', async () => {
      const proxy = await startFaultProxy(registry.host);
      try {
        let cuts = 0;
        proxy.rule = (req) =>
          req.method === 'GET' && req.url?.includes('/blobs/') && !req.headers.range && cuts++ < 1
            ? { kind: 'cut-response', after: 1 << 20 }
            : { kind: 'pass' };
        const pulled = await pullImage({
          reference: `${proxy.host}/app:v1`,
          layout: join(dir, 'resumed'),
          registry: plain,
        });
        expect(cuts).toBeGreaterThan(0);
        expect(proxy.log.some((l) => l.startsWith('GET') && l.includes('/blobs/'))).toBe(true);
        const { tree } = await flattenImage({ layout: join(dir, 'resumed'), reference: 'v1' });
        expect(tree.get('big.bin')!.inode.size).toBe(big.length);
        expect(pulled.downloaded).toBe(3);
      } finally {
        await proxy.close();
      }
    });

    it('retries 429/503 honouring Retry-After', async () => {
      const proxy = await startFaultProxy(registry.host);
      try {
        let n = 0;
        proxy.rule = (req) =>
          req.url?.includes('/manifests/') && n++ < 2
            ? { kind: 'status', status: n === 1 ? 429 : 503, headers: { 'Retry-After': '0' } }
            : { kind: 'pass' };
        const client = new RegistryClient({ ...plain, registry: proxy.host });
        const m = await client.getManifest('app', 'v1');
        client.close();
        expect(m.parsed.kind).toBe('manifest');
        expect(n).toBe(3);
      } finally {
        await proxy.close();
      }
    });

    it('resumes a chunked upload after a failed PATCH, and restarts one the registry half-received', async () => {
      const proxy = await startFaultProxy(registry.host);
      try {
        const data = randomBytes((3 << 20) + 7);
        const blob = await layout.blobs.putBytes(data);
        const desc = { mediaType: 'application/octet-stream', digest: blob.digest, size: blob.size };
        const open = (start: number) => layout.blobs.open(blob.digest, { start });
        let patches = 0;
        proxy.rule = (req) =>
          req.method === 'PATCH' && ++patches === 2 ? { kind: 'status', status: 503 } : { kind: 'pass' };
        const client = new RegistryClient({ ...plain, registry: proxy.host, chunkSize: 1 << 20 });
        expect(await client.pushBlob('resume/a', desc, { open })).toBe('uploaded');
        const posts = proxy.log.filter((l) => l.startsWith('POST')).length;
        expect(posts).toBe(1); // resumed within the same session
        expect(proxy.log.filter((l) => l.startsWith('GET') && l.includes('/uploads/')).length).toBe(1);
        patches = 0;
        proxy.log.length = 0;
        proxy.rule = (req) =>
          req.method === 'PATCH' && ++patches === 2
            ? { kind: 'cut-request', after: 300_000 }
            : { kind: 'pass' };
        expect(await client.pushBlob('resume/b', desc, { open })).toBe('uploaded');
        expect(proxy.log.filter((l) => l.startsWith('POST')).length).toBe(2); // a new session after the lost one
        client.close();
        const direct = new RegistryClient({ ...plain, registry: registry.host });
        const store = (await openLayout({ dir: join(dir, 'resume'), create: true })).blobs;
        await direct.fetchBlob('resume/b', desc, store);
        direct.close();
        expect((await readFile(store.path(blob.digest))).equals(data)).toBe(true);
      } finally {
        await proxy.close();
      }
    });

    it('fails with a digest mismatch when the registry serves different bytes, keeping nothing', async () => {
      const client = new RegistryClient({ ...plain, registry: registry.host });
      try {
        const desc = (await layout.resolveImage('v1')).manifest.layers[0]!;
        const wrong = { ...desc, digest: `sha256:${'1'.repeat(64)}` as const };
        const store = (await openLayout({ dir: join(dir, 'wrong'), create: true })).blobs;
        await expect(client.fetchBlob('app', { ...desc, size: desc.size + 1 }, store)).rejects.toMatchObject({
          kind: 'integrity',
        });
        await expect(client.fetchBlob('app', wrong, store)).rejects.toMatchObject({
          code: 'REGISTRY_NOT_FOUND',
        });
        expect(await store.list()).toEqual([]);
      } finally {
        client.close();
      }
    });

    it('uses the referrers API where the registry has one (local HTTP fixture standing in for the API, which docker-registry 2.8 lacks)', async () => {
      const proxy = await startFaultProxy(registry.host);
      const client = new RegistryClient({ ...plain, registry: proxy.host });
      try {
        await pushImage({
          layout: layout.dir,
          source: 'v1',
          reference: `${proxy.host}/api/app:v1`,
          registry: plain,
        });
        const subject = (await client.headManifest('api/app', 'v1'))!;
        const referrers: Descriptor[] = [];
        let applyFilter = true;
        proxy.rule = (req) => {
          const url = new URL(req.url!, 'http://fixture');
          if (req.method === 'PUT' && url.pathname.startsWith('/v2/api/app/manifests/'))
            return { kind: 'pass', responseHeaders: { 'OCI-Subject': subject.digest } };
          const m = /^\/v2\/api\/app\/referrers\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
          if (req.method !== 'GET' || !m) return { kind: 'pass' };
          if (m[1] !== subject.digest && m[1] !== EMPTY_DESCRIPTOR.digest)
            return { kind: 'reply', status: 500, body: '{"errors":[{"code":"UNKNOWN","message":"boom"}]}' };
          const type = url.searchParams.get('artifactType');
          const list = m[1] === subject.digest ? referrers : [];
          const matching = type && applyFilter ? list.filter((d) => d.artifactType === type) : list;
          // one descriptor per page, linked with a relative URL as the spec allows
          const page = Number(url.searchParams.get('page') ?? '0');
          const headers: Record<string, string> = { 'Content-Type': MediaType.OciIndex };
          if (type && applyFilter) headers['OCI-Filters-Applied'] = 'artifactType';
          if (page + 1 < matching.length) {
            const next = new URLSearchParams(url.searchParams);
            next.set('page', String(page + 1));
            headers.Link = `<${url.pathname}?${next}>; rel="next"`;
          }
          const index: ImageIndex = {
            schemaVersion: 2,
            mediaType: MediaType.OciIndex,
            manifests: matching.slice(page, page + 1),
          };
          return { kind: 'reply', status: 200, headers, body: JSON.stringify(index) };
        };
        for (const [type, content] of [
          ['application/vnd.drover.signature.v1+json', '{"sig":1}'],
          ['application/spdx+json', '{"sbom":1}'],
        ] as const) {
          const blob = await layout.blobs.putBytes(Buffer.from(content));
          const empty = { ...EMPTY_DESCRIPTOR };
          for (const [d, b] of [
            [blob.digest, Buffer.from(content)],
            [empty.digest, Buffer.from('{}')],
          ] as const) {
            await client.pushBlob(
              'api/app',
              { mediaType: 'application/octet-stream', digest: d, size: b.length },
              { open: () => Readable.from([b]) },
            );
          }
          const artifact: ImageManifest = {
            schemaVersion: 2,
            mediaType: MediaType.OciManifest,
            artifactType: type,
            config: empty,
            layers: [{ mediaType: type, digest: blob.digest, size: blob.size }],
            subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
          };
          const bytes = Buffer.from(JSON.stringify(artifact));
          const digest = `sha256:${require('node:crypto').createHash('sha256').update(bytes).digest('hex')}`;
          const pushed = await client.putManifest('api/app', digest, bytes, MediaType.OciManifest);
          referrers.push({ ...pushed, artifactType: type });
        }
        // the registry answered OCI-Subject, so no referrers tag was read or written
        expect(proxy.log.some((l) => l.includes('/manifests/sha256-'))).toBe(false);
        expect(await client.listTags('api/app')).toEqual(['v1']);
        const all = await client.referrers('api/app', subject.digest);
        expect(all.source).toBe('api');
        expect(all.descriptors.map((d) => d.digest)).toEqual(referrers.map((d) => d.digest));
        expect(proxy.log.filter((l) => l.includes('/referrers/')).length).toBe(2); // two pages
        const sigs = await client.referrers('api/app', subject.digest, {
          artifactType: 'application/spdx+json',
        });
        expect(sigs.descriptors.map((d) => d.digest)).toEqual([referrers[1]!.digest]);
        applyFilter = false; // a registry that ignores the filter: the client filters
        const unfiltered = await client.referrers('api/app', subject.digest, {
          artifactType: 'application/spdx+json',
        });
        expect(unfiltered).toEqual(sigs);
        expect((await client.referrers('api/app', EMPTY_DESCRIPTOR.digest)).descriptors).toEqual([]);
        await expect(client.referrers('api/app', `sha256:${'2'.repeat(64)}`)).rejects.toMatchObject({
          code: 'REGISTRY_UNAVAILABLE',
        });
      } finally {
        client.close();
        await proxy.close();
      }
    });

    it('removes a deleted referrer from the referrers tag-schema index', async () => {
      const deletable = await startTestRegistry({ deleteEnabled: true });
      const client = new RegistryClient({ ...plain, registry: deletable.host });
      try {
        await pushImage({
          layout: layout.dir,
          source: 'v1',
          reference: `${deletable.host}/del:v1`,
          registry: plain,
        });
        const subject = (await client.headManifest('del', 'v1'))!;
        const empty = Buffer.from('{}');
        await client.pushBlob(
          'del',
          { mediaType: 'application/octet-stream', digest: EMPTY_DESCRIPTOR.digest, size: 2 },
          { open: () => Readable.from([empty]) },
        );
        const pushed: Descriptor[] = [];
        for (const type of ['application/vnd.example.a', 'application/vnd.example.b']) {
          const artifact: ImageManifest = {
            schemaVersion: 2,
            mediaType: MediaType.OciManifest,
            artifactType: type,
            config: { ...EMPTY_DESCRIPTOR },
            layers: [{ ...EMPTY_DESCRIPTOR }],
            subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
          };
          const bytes = Buffer.from(JSON.stringify(artifact));
          pushed.push(await client.putManifest('del', manifestDigest(bytes), bytes, MediaType.OciManifest));
        }
        expect((await client.referrers('del', subject.digest)).descriptors).toHaveLength(2);
        await client.deleteManifest('del', pushed[0]!.digest);
        const left = await client.referrers('del', subject.digest);
        expect(left).toMatchObject({ source: 'tag' });
        expect(left.descriptors.map((d) => d.digest)).toEqual([pushed[1]!.digest]);
        await expect(client.getManifest('del', pushed[0]!.digest)).rejects.toMatchObject({
          code: 'REGISTRY_NOT_FOUND',
        });
        // deleting something that is not a referrer leaves the index alone; deleting it twice is a 404
        await client.deleteManifest('del', subject.digest);
        await expect(client.deleteManifest('del', subject.digest)).rejects.toMatchObject({
          code: 'REGISTRY_NOT_FOUND',
        });
        expect((await client.referrers('del', subject.digest)).descriptors).toHaveLength(1);
      } finally {
        client.close();
        await deletable.stop();
      }
    });

    it('aborts promptly', async () => {
      const controller = new AbortController();
      controller.abort();
      await expect(
        pullImage(
          { reference: `${registry.host}/app:v1`, layout: join(dir, 'aborted'), registry: plain },
          { signal: controller.signal },
        ),
      ).rejects.toMatchObject({ code: 'ABORTED' });
    });
  });
});

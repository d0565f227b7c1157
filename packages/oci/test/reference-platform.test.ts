import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  formatImageReference,
  isLoopback,
  normalizePlatform,
  parseImageReference,
  parsePlatform,
  RootfsTree,
  referrersTag,
  selectPlatform,
} from '../src/index.js';

describe('image references', () => {
  it('parses hosts, ports, tags and digests with Docker Hub defaults', () => {
    expect(parseImageReference('alpine')).toEqual({
      registry: 'docker.io',
      repository: 'library/alpine',
      tag: 'latest',
    });
    expect(parseImageReference('127.0.0.1:5000/a/b:1.2')).toEqual({
      registry: '127.0.0.1:5000',
      repository: 'a/b',
      tag: '1.2',
    });
    const digest = `sha256:${'a'.repeat(64)}` as const;
    expect(parseImageReference(`ghcr.io/org/img@${digest}`)).toEqual({
      registry: 'ghcr.io',
      repository: 'org/img',
      digest,
    });
    expect(parseImageReference('localhost/x:y').registry).toBe('localhost');
    expect(formatImageReference(parseImageReference('docker://org/img:v'))).toBe('docker.io/org/img:v');
    expect(() => parseImageReference('UPPER/case')).toThrow(
      expect.objectContaining({ code: 'OCI_REFERENCE_INVALID' }),
    );
    expect(() => parseImageReference('a/b:-bad')).toThrow(
      expect.objectContaining({ code: 'OCI_REFERENCE_INVALID' }),
    );
    expect(isLoopback('127.0.0.1:5000')).toBe(true);
    expect(isLoopback('example.com')).toBe(false);
    expect(referrersTag(digest)).toBe(`sha256-${'a'.repeat(64)}`);
  });
});

describe('platforms', () => {
  const d = (architecture: string, variant?: string) => ({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: `sha256:${architecture.padEnd(64, '0').replace(/[^0-9a-f]/g, '0')}` as `sha256:${string}`,
    size: 1,
    platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) },
  });
  it('normalises like containerd and prefers exact matches like skopeo', () => {
    expect(normalizePlatform({ os: 'linux', architecture: 'x86_64' })).toEqual({
      os: 'linux',
      architecture: 'amd64',
    });
    expect(normalizePlatform({ os: 'linux', architecture: 'aarch64', variant: 'v8' })).toEqual({
      os: 'linux',
      architecture: 'arm64',
    });
    expect(parsePlatform('linux/arm')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    const list = [d('amd64'), d('arm64', 'v8'), d('arm64'), d('arm', 'v7')];
    expect(selectPlatform(list, { os: 'linux', architecture: 'arm64' })).toBe(list[2]);
    expect(selectPlatform(list, { os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe(list[1]);
    expect(selectPlatform(list, parsePlatform('linux/arm'))).toBe(list[3]);
    expect(() => selectPlatform(list, parsePlatform('linux/arm/v6'))).toThrow(
      expect.objectContaining({ code: 'OCI_PLATFORM_NOT_FOUND' }),
    );
    expect(() => parsePlatform('linux')).toThrow(expect.objectContaining({ code: 'OCI_PLATFORM_INVALID' }));
  });
});

describe('RootfsTree as a mutable model', () => {
  it('links, unlinks, counts hardlinks and reads inline content', async () => {
    const tree = new RootfsTree();
    const etc = tree.link(
      tree.root,
      'etc',
      tree.newInode({ type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: { sec: 1, nsec: 0 } }),
      -1,
    );
    const data = Buffer.from('hello');
    const inode = tree.newInode({
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: { sec: 1, nsec: 5 },
      size: 5,
      content: { kind: 'inline', data },
    });
    tree.link(etc, 'b', inode, -1);
    tree.link(etc, 'a', inode, -1);
    expect(inode.nlink).toBe(2);
    expect([...tree.walk()].map((e) => e.path)).toEqual(['', 'etc', 'etc/a', 'etc/b']);
    expect(tree.summary()).toMatchObject({ files: 1, hardlinks: 1, dirs: 2, bytes: 5 });
    const chunks: Buffer[] = [];
    for await (const c of tree.openContent(inode) as Readable) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('hello');
    tree.unlink(etc, 'a');
    expect(inode.nlink).toBe(1);
    tree.unlink(tree.root, 'etc');
    expect(inode.nlink).toBe(0);
    expect(tree.get('etc/b')).toBeUndefined();
  });
});

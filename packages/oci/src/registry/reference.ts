import { type DigestString, DroverError, isDigest } from '@drover/core';

/** A parsed image reference: `[host[:port]/]repository[:tag][@digest]`. */
export interface ImageReference {
  /** Registry host as written (with port), `docker.io` when none was given. */
  registry: string;
  repository: string;
  tag?: string;
  digest?: DigestString;
}

const REPO = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

function invalid(value: string, why: string): DroverError {
  return new DroverError(
    'OCI_REFERENCE_INVALID',
    `not an image reference: ${JSON.stringify(value)} (${why})`,
    {
      kind: 'usage',
      hint: 'Write it as registry.example.com/repo/name:tag or …@sha256:<hex>; loopback registries as 127.0.0.1:5000/name:tag.',
    },
  );
}

/** Parse an image reference (Docker Hub defaults: `docker.io`, `library/` for one-word names). */
export function parseImageReference(value: string): ImageReference {
  let rest = value.trim();
  if (rest.startsWith('docker://')) rest = rest.slice(9);
  let digest: DigestString | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw invalid(value, 'bad digest');
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(value, 'bad tag');
  }
  const first = rest.split('/')[0]!;
  let registry = 'docker.io';
  let repository = rest;
  if (rest.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first;
    repository = rest.slice(first.length + 1);
  }
  if (registry === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`;
  if (!REPO.test(repository)) throw invalid(value, 'bad repository name');
  const ref: ImageReference = { registry, repository };
  if (tag) ref.tag = tag;
  if (digest) ref.digest = digest;
  if (!tag && !digest) ref.tag = 'latest';
  return ref;
}

/** Format a reference back to its canonical string. */
export function formatImageReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** The host the registry API is served from (Docker Hub's API lives on registry-1.docker.io). */
export function registryApiHost(registry: string): string {
  return registry === 'docker.io' || registry === 'index.docker.io' ? 'registry-1.docker.io' : registry;
}

/** True for loopback hosts (127.0.0.0/8, ::1, localhost), where plain HTTP is reasonable for tests. */
export function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

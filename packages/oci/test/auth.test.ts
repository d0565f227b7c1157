import { createSign, randomUUID } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { LogFields } from '@drover/core';
import { freePort, startTestRegistry, type TestRegistry } from '@drover/test-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadDockerCredentials,
  openLayout,
  parseChallenges,
  parseRetryAfter,
  pullImage,
  pushImage,
  RegistryClient,
  writeImage,
} from '../src/index.js';
import { run, tempDir } from './helpers.js';
import { startFaultProxy } from './proxy.js';

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

describe('bearer token auth with a tiny token endpoint', () => {
  let registry: TestRegistry;
  let tokenServer: http.Server;
  let dir: string;
  let cleanup: () => Promise<void>;
  const issued: Array<{ scopes: string[]; user?: string; grant?: string; token?: string }> = [];
  /** Lifetime of the tokens handed out, seconds. */
  let ttl = 300;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=drover-test-token',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    const key = await readFile(join(dir, 'key.pem'), 'utf8');
    const certPem = await readFile(join(dir, 'cert.pem'), 'utf8');
    const der = Buffer.from(certPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
    const port = await freePort();
    const handle = (req: http.IncomingMessage, res: http.ServerResponse, form: URLSearchParams): void => {
      const url = new URL(req.url!, 'http://x');
      const auth = req.headers.authorization ?? '';
      let user = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString() : undefined;
      const grant = form.get('grant_type') ?? undefined;
      if (grant === 'refresh_token') {
        // OAuth2: an identity token (Docker's `<token>` user) is exchanged for access tokens by POST
        if (form.get('refresh_token') !== 'identity-of-alice') {
          res.writeHead(401).end();
          return;
        }
        user = 'alice:s3cret';
      }
      if (user !== undefined && user !== 'alice:s3cret') {
        res.writeHead(401).end();
        return;
      }
      const scopes = grant
        ? (form.get('scope') ?? '').split(' ').filter(Boolean)
        : url.searchParams.getAll('scope');
      // anonymous users may only pull; alice may push
      const access = scopes.map((s) => {
        const [type, name, actions] = s.split(':') as [string, string, string];
        const allowed = actions.split(',').filter((a) => a === 'pull' || (user && a === 'push'));
        return { type, name, actions: allowed };
      });
      const now = Math.floor(Date.now() / 1000);
      const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [der.toString('base64')] }));
      const claims = b64url(
        JSON.stringify({
          iss: 'drover-test',
          sub: user ?? '',
          aud: 'test-registry',
          exp: now + 300,
          nbf: now - 10,
          iat: now,
          jti: randomUUID(),
          access,
        }),
      );
      const signature = createSign('RSA-SHA256').update(`${header}.${claims}`).sign(key);
      const token = `${header}.${claims}.${b64url(signature)}`;
      issued.push({ scopes, token, ...(user ? { user } : {}), ...(grant ? { grant } : {}) });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      // the OAuth2 endpoint answers access_token, the plain one token (both are in the spec)
      res.end(JSON.stringify(grant ? { access_token: token, expires_in: ttl } : { token, expires_in: ttl }));
    };
    tokenServer = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => handle(req, res, new URLSearchParams(Buffer.concat(parts).toString('utf8'))));
    });
    await new Promise<void>((r) => tokenServer.listen(port, '127.0.0.1', r));
    registry = await startTestRegistry({
      tokenAuth: {
        realm: `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/token`,
        service: 'test-registry',
        issuer: 'drover-test',
        rootCertificatePem: certPem,
      },
    });
  });
  afterAll(async () => {
    await registry?.stop();
    tokenServer?.close();
    await cleanup();
  });

  it('pushes with credentials from config.json, pulls anonymously, never logs the token', async () => {
    const layout = await openLayout({ dir: join(dir, 'src'), create: true });
    await writeImage({
      layout,
      tag: 't',
      layers: [{ entries: [{ path: 'a', type: 'file', content: 'auth' }] }],
    });
    await mkdir(join(dir, 'docker'));
    const configPath = join(dir, 'docker', 'config.json');
    await writeFile(
      configPath,
      JSON.stringify({
        auths: { [registry.host]: { auth: Buffer.from('alice:s3cret').toString('base64') } },
      }),
    );
    const lines: string[] = [];
    const logger = {
      debug: (m: string, f?: LogFields) => lines.push(m + JSON.stringify(f ?? {})),
      info: (m: string, f?: LogFields) => lines.push(m + JSON.stringify(f ?? {})),
      warn: (m: string, f?: LogFields) => lines.push(m + JSON.stringify(f ?? {})),
      error: (m: string, f?: LogFields) => lines.push(m + JSON.stringify(f ?? {})),
    };
    await expect(
      pushImage({
        layout: layout.dir,
        reference: `${registry.host}/demo/app:1`,
        registry: { plainHttp: true, credentials: null },
      }),
    ).rejects.toMatchObject({ code: 'REGISTRY_UNAUTHORIZED', kind: 'denied' });
    const pushed = await pushImage(
      {
        layout: layout.dir,
        reference: `${registry.host}/demo/app:1`,
        registry: { plainHttp: true, dockerConfigPath: configPath },
      },
      { logger },
    );
    expect(
      issued.some((i) => i.user === 'alice:s3cret' && i.scopes.includes('repository:demo/app:pull,push')),
    ).toBe(true);
    const pulled = await pullImage(
      {
        reference: `${registry.host}/demo/app:1`,
        layout: join(dir, 'out'),
        registry: { plainHttp: true, credentials: null },
      },
      { logger },
    );
    expect(pulled.digest).toBe(pushed.digest);
    expect(lines.join('\n')).not.toMatch(/eyJ|s3cret|Bearer|Basic /);
  });

  it('exchanges an identity token for access tokens and fetches a new one when a token expires', async () => {
    const layout = await openLayout({ dir: join(dir, 'src'), create: true });
    issued.length = 0;
    ttl = 1; // shorter than the client's 5 s safety margin: every request needs a fresh token
    try {
      const pushed = await pushImage({
        layout: layout.dir,
        source: 't',
        reference: `${registry.host}/demo/idt:1`,
        registry: { plainHttp: true, credentials: { identityToken: 'identity-of-alice' } },
      });
      const refreshes = issued.filter((i) => i.grant === 'refresh_token');
      expect(refreshes.length).toBeGreaterThan(1);
      expect(refreshes.every((i) => i.user === 'alice:s3cret')).toBe(true);
      expect(refreshes.some((i) => i.scopes.includes('repository:demo/idt:pull,push'))).toBe(true);
      const client = new RegistryClient({
        registry: registry.host,
        plainHttp: true,
        credentials: { identityToken: 'identity-of-alice' },
      });
      expect((await client.headManifest('demo/idt', '1'))?.digest).toBe(pushed.digest);
      client.close();
      const wrong = new RegistryClient({
        registry: registry.host,
        plainHttp: true,
        credentials: { identityToken: 'stolen' },
        retry: { retries: 0 },
      });
      await expect(wrong.headManifest('demo/idt', '1')).rejects.toMatchObject({
        code: 'REGISTRY_UNAUTHORIZED',
        kind: 'denied',
      });
      wrong.close();
    } finally {
      ttl = 300;
    }
  });

  it('drops a token the registry stops accepting and gets a new one (fixture proxy in front of the token registry)', async () => {
    const proxy = await startFaultProxy(registry.host);
    const realm = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/token`;
    const client = new RegistryClient({
      registry: proxy.host,
      plainHttp: true,
      credentials: { username: 'alice', password: 's3cret' },
    });
    try {
      issued.length = 0;
      expect(await client.listTags('demo/app')).toContain('1');
      expect(issued).toHaveLength(1);
      const revoked = `Bearer ${issued[0]!.token}`;
      // the registry now rejects the cached token, as it would a revoked or early-expired one
      proxy.rule = (req) =>
        req.headers.authorization === revoked
          ? {
              kind: 'status',
              status: 401,
              headers: {
                'WWW-Authenticate': `Bearer realm="${realm}",service="test-registry",scope="repository:demo/app:pull",error="invalid_token"`,
              },
            }
          : { kind: 'pass' };
      expect(await client.listTags('demo/app')).toContain('1');
      expect(issued).toHaveLength(2);
      expect(issued[1]!.token).not.toBe(issued[0]!.token);
      // anonymous → 401 → token 1 → 200, then token 1 → 401 → token 2 → 200
      expect(proxy.log.filter((l) => l.includes('/tags/list'))).toHaveLength(4);
      // a registry that keeps refusing fresh tokens fails after one new token, not in a loop
      proxy.rule = (req) =>
        req.headers.authorization?.startsWith('Bearer ')
          ? {
              kind: 'status',
              status: 401,
              headers: {
                'WWW-Authenticate': `Bearer realm="${realm}",service="test-registry",error="invalid_token"`,
              },
            }
          : { kind: 'pass' };
      await expect(client.listTags('demo/app')).rejects.toMatchObject({ code: 'REGISTRY_UNAUTHORIZED' });
      expect(issued).toHaveLength(3);
    } finally {
      client.close();
      await proxy.close();
    }
  });
});

describe('basic auth, Docker config and credential helpers', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
  });
  afterAll(() => cleanup());

  it('reads auths, credHelpers (before auths) and identity tokens, like docker does', async () => {
    const bin = join(dir, 'bin');
    await mkdir(bin);
    const helper = join(bin, 'docker-credential-drovertest');
    await writeFile(
      helper,
      `#!/bin/sh\nread host\nif [ "$host" = "helped.example:5000" ]; then echo '{"ServerURL":"x","Username":"bob","Secret":"pw"}'; else echo 'credentials not found in native keychain'; exit 1; fi\n`,
    );
    await chmod(helper, 0o755);
    const configPath = join(dir, 'config.json');
    await writeFile(
      configPath,
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: Buffer.from('hub:pw').toString('base64') },
          'helped.example:5000': { auth: Buffer.from('ignored:x').toString('base64') },
          'tok.example': { identitytoken: 'refresh' },
        },
        credHelpers: { 'helped.example:5000': 'drovertest', 'none.example': 'drovertest' },
      }),
    );
    const oldPath = process.env.PATH;
    process.env.PATH = `${bin}:${oldPath}`;
    try {
      expect(await loadDockerCredentials({ registry: 'docker.io', configPath })).toEqual({
        username: 'hub',
        password: 'pw',
      });
      expect(await loadDockerCredentials({ registry: 'helped.example:5000', configPath })).toEqual({
        username: 'bob',
        password: 'pw',
      });
      expect(await loadDockerCredentials({ registry: 'none.example', configPath })).toBeUndefined();
      expect(await loadDockerCredentials({ registry: 'tok.example', configPath })).toEqual({
        identityToken: 'refresh',
      });
      expect(await loadDockerCredentials({ registry: 'other.example', configPath })).toBeUndefined();
      expect(
        await loadDockerCredentials({ registry: 'x', configPath: join(dir, 'missing.json') }),
      ).toBeUndefined();
    } finally {
      process.env.PATH = oldPath;
    }
    await writeFile(join(dir, 'bad.json'), JSON.stringify({ credsStore: 'nonexistent-helper' }));
    await expect(
      loadDockerCredentials({ registry: 'x', configPath: join(dir, 'bad.json') }),
    ).rejects.toMatchObject({
      code: 'CREDENTIAL_HELPER_MISSING',
    });
  });

  it('answers a Basic challenge with the credentials', async () => {
    const registry = await startTestRegistry();
    const proxy = await startFaultProxy(registry.host);
    try {
      proxy.rule = (req) =>
        req.headers.authorization === `Basic ${Buffer.from('alice:s3cret').toString('base64')}`
          ? { kind: 'pass' }
          : { kind: 'status', status: 401, headers: { 'WWW-Authenticate': 'Basic realm="basic-realm"' } };
      const anonymous = new RegistryClient({ registry: proxy.host, plainHttp: true, credentials: null });
      await expect(anonymous.ping()).rejects.toMatchObject({ code: 'REGISTRY_UNAUTHORIZED' });
      anonymous.close();
      const client = new RegistryClient({
        registry: proxy.host,
        plainHttp: true,
        credentials: { username: 'alice', password: 's3cret' },
      });
      await client.ping();
      client.close();
    } finally {
      await proxy.close();
      await registry.stop();
    }
  });

  it('parses challenges with quoted commas and Retry-After in both forms', () => {
    expect(
      parseChallenges(
        'Bearer realm="http://h/token",service="reg",scope="repository:a:pull,push repository:b:pull",error="insufficient_scope"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: {
          realm: 'http://h/token',
          service: 'reg',
          scope: 'repository:a:pull,push repository:b:pull',
          error: 'insufficient_scope',
        },
      },
    ]);
    expect(parseChallenges('Basic realm="x", Bearer realm="y"').map((c) => c.scheme)).toEqual([
      'basic',
      'bearer',
    ]);
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(Date.now() + 10_000).toUTCString())).toBeGreaterThan(8000);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});

import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import tls from 'node:tls';
import { DroverError } from '@drover/core';

/** A response with its body still to be read (or drained). */
export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
  url: URL;
}

/** One request. A body is bytes or a factory (so that retries can send it again). */
export interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  body?: Buffer | (() => Readable);
  /** Socket inactivity timeout (connect, headers and body), ms. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** The agents a client reuses connections through. */
export interface Agents {
  http: http.Agent;
  https: https.Agent;
}

/** Keep-alive agents for one client; `ca`: PEM certificates to trust besides Node's bundled CAs. */
export function createAgents(ca?: string[]): Agents {
  return {
    http: new http.Agent({ keepAlive: true, maxSockets: 16 }),
    https: new https.Agent({
      keepAlive: true,
      maxSockets: 16,
      ...(ca?.length ? { ca: [...tls.rootCertificates, ...ca] } : {}),
    }),
  };
}

/** Send one HTTP request and resolve when response headers arrive. Network failures reject with `cause`. */
export function send(request: HttpRequest, agents: Agents): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const { url } = request;
    const lib = url.protocol === 'https:' ? https : http;
    const req = lib.request(url, {
      method: request.method,
      headers: request.headers,
      agent: url.protocol === 'https:' ? agents.https : agents.http,
      ...(request.signal ? { signal: request.signal } : {}),
    });
    req.setTimeout(request.timeoutMs, () => {
      req.destroy(
        new DroverError(
          'REGISTRY_TIMEOUT',
          `${request.method} ${url.host}${url.pathname}: no data for ${request.timeoutMs} ms`,
          {
            kind: 'unavailable',
            hint: 'The registry or network is slow or stuck; retry, or raise the timeout.',
          },
        ),
      );
    });
    req.on('error', reject);
    req.on('response', (res) =>
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url }),
    );
    const body = request.body;
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else {
      const stream = body();
      stream.on('error', (error) => req.destroy(error));
      stream.pipe(req);
    }
  });
}

/** Read a (small) response body into memory, refusing more than `max` bytes. */
export async function readBody(res: HttpResponse, max = 4 << 20): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > max) {
      res.body.destroy();
      throw new DroverError(
        'REGISTRY_RESPONSE_TOO_LARGE',
        `${res.url.pathname}: response larger than ${max} bytes`,
        {
          hint: 'Manifests are limited to 4 MiB; the registry sent something else.',
        },
      );
    }
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}

/** Drop a response body we do not need (keeps the connection reusable). */
export function discard(res: HttpResponse): void {
  res.body.resume();
  res.body.on('error', () => {});
}

/** Parse `WWW-Authenticate` into challenges; values may be quoted strings with commas and spaces. */
export function parseChallenges(
  header: string | undefined,
): Array<{ scheme: string; params: Record<string, string> }> {
  const out: Array<{ scheme: string; params: Record<string, string> }> = [];
  if (!header) return out;
  let i = 0;
  const s = header;
  const skip = (): void => {
    while (i < s.length && (s[i] === ' ' || s[i] === ',' || s[i] === '\t')) i++;
  };
  while (i < s.length) {
    skip();
    const m = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+/.exec(s.slice(i));
    if (!m) break;
    const word = m[0];
    i += word.length;
    // a token followed by '=' is a parameter of the current challenge, else a new scheme
    let j = i;
    while (s[j] === ' ') j++;
    if (s[j] === '=' && out.length > 0) {
      i = j + 1;
      while (s[i] === ' ') i++;
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        i++;
      } else {
        const v = /^[^,\s]*/.exec(s.slice(i))![0];
        value = v;
        i += v.length;
      }
      out[out.length - 1]!.params[word.toLowerCase()] = value;
    } else {
      out.push({ scheme: word.toLowerCase(), params: {} });
    }
  }
  return out;
}

/** Seconds or an HTTP date from `Retry-After`, as milliseconds (undefined when absent or unparsable). */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

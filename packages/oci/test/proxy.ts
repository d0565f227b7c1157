import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the proxy does with one request. */
export type Fault =
  /** Forward, adding these headers to the registry's response. */
  | { kind: 'pass'; responseHeaders?: Record<string, string> }
  /** Answer with this status, headers and body without forwarding (a fixture standing in for an API). */
  | { kind: 'reply'; status: number; headers?: Record<string, string>; body: string | Buffer }
  /** Answer with this status (and headers) without forwarding. */
  | { kind: 'status'; status: number; headers?: Record<string, string> }
  /** Forward, but cut the connection after this many response body bytes. */
  | { kind: 'cut-response'; after: number }
  /** Forward this many request body bytes to the registry, then cut both connections. */
  | { kind: 'cut-request'; after: number };

/** A fault-injecting HTTP proxy in front of a registry; rewrites Location headers to point back at itself. */
export interface FaultProxy {
  host: string;
  /** Requests seen, as `METHOD path`. */
  log: string[];
  /** Decide per request; default pass. */
  rule: (req: IncomingMessage, index: number) => Fault;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const proxy: FaultProxy = { host: '', log: [], rule: () => ({ kind: 'pass' }), close: async () => {} };
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const index = proxy.log.length;
    proxy.log.push(`${req.method} ${req.url}`);
    const fault = proxy.rule(req, index);
    if (fault.kind === 'status') {
      req.resume();
      res.writeHead(fault.status, { 'Content-Length': '0', ...fault.headers });
      res.end();
      return;
    }
    if (fault.kind === 'reply') {
      req.resume();
      const body = Buffer.from(fault.body);
      res.writeHead(fault.status, { 'Content-Length': String(body.length), ...fault.headers });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const upstream = http.request(
      {
        host: '127.0.0.1',
        port: Number(target.split(':')[1]),
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target },
      },
      (up) => {
        const headers = { ...up.headers, ...(fault.kind === 'pass' ? fault.responseHeaders : {}) };
        if (typeof headers.location === 'string')
          headers.location = headers.location.replace(target, proxy.host);
        res.writeHead(up.statusCode ?? 502, headers);
        if (fault.kind === 'cut-response') {
          let sent = 0;
          up.on('data', (chunk: Buffer) => {
            if (sent + chunk.length >= fault.after) {
              res.write(chunk.subarray(0, Math.max(0, fault.after - sent)));
              sent = fault.after;
              up.destroy();
              res.socket?.destroy();
              return;
            }
            sent += chunk.length;
            res.write(chunk);
          });
          up.on('end', () => res.end());
        } else up.pipe(res);
      },
    );
    upstream.on('error', () => res.socket?.destroy());
    if (fault.kind === 'cut-request') {
      let sent = 0;
      req.on('data', (chunk: Buffer) => {
        if (sent >= fault.after) return;
        const part = chunk.subarray(0, fault.after - sent);
        sent += part.length;
        upstream.write(part);
        if (sent >= fault.after) {
          setTimeout(() => {
            upstream.destroy();
            req.socket.destroy();
          }, 50);
        }
      });
    } else req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = async () => {
    server.close();
    server.closeAllConnections();
  };
  return proxy;
}

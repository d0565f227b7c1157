import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RESPONSE_PARSER_SOURCE } from './http1-parser.js';

interface Parser {
  feed(buffer: Buffer, start: number, end: number): void;
  eof(): void;
  readonly done: boolean;
  readonly keepAlive: boolean;
}
type Create = (on: {
  head(status: number, headers: Record<string, string>): void;
  body(buffer: Buffer, start: number, end: number): void;
}) => Parser;

// the very text the download workers run
const createResponseParser = new Function(
  `${RESPONSE_PARSER_SOURCE}; return createResponseParser;`,
)() as Create;

interface Parsed {
  status?: number;
  headers?: Record<string, string>;
  body: Buffer;
  done: boolean;
  keepAlive: boolean;
}

/** Feed `wire` in pieces cut at `cuts`, each piece at an offset inside a larger, dirty buffer (as a reused read buffer is). */
function parse(wire: Buffer, cuts: number[], closeAtEnd: boolean): Parsed {
  const parts: Buffer[] = [];
  const out: Parsed = { body: Buffer.alloc(0), done: false, keepAlive: false };
  const parser = createResponseParser({
    head(status, headers) {
      out.status = status;
      out.headers = headers;
    },
    body(buffer, start, end) {
      parts.push(Buffer.from(buffer.subarray(start, end)));
    },
  });
  const points = [...new Set([0, ...cuts.map((c) => c % (wire.length + 1)), wire.length])].sort(
    (a, b) => a - b,
  );
  for (let i = 0; i + 1 < points.length && !parser.done; i++) {
    const piece = wire.subarray(points[i], points[i + 1]);
    const scratch = Buffer.alloc(piece.length + 16, 0x41);
    piece.copy(scratch, 7);
    parser.feed(scratch, 7, 7 + piece.length);
  }
  if (closeAtEnd && !parser.done) parser.eof();
  out.body = Buffer.concat(parts);
  out.done = parser.done;
  out.keepAlive = parser.keepAlive;
  return out;
}

const headerName = fc
  .stringMatching(/^[a-z][a-z0-9-]{0,11}$/)
  .filter((n) => !['content-length', 'transfer-encoding', 'connection'].includes(n));
const headerValue = fc.stringMatching(/^[!-~]([ !-~]{0,20}[!-~])?$/);

describe('HTTP/1.1 response parser (download workers)', () => {
  it('reads status, headers and the body of any framing, whatever the read boundaries', () => {
    fc.assert(
      fc.property(
        fc.record({
          status: fc.constantFrom(200, 206, 307, 401, 404, 429, 500),
          headers: fc.dictionary(headerName, headerValue, { maxKeys: 5 }),
          body: fc.uint8Array({ maxLength: 3000 }).map((b) => Buffer.from(b)),
          framing: fc.constantFrom('length', 'chunked', 'close'),
          chunkSizes: fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 8 }),
          extension: fc.boolean(),
          trailer: fc.boolean(),
          interim: fc.boolean(),
          close: fc.boolean(),
          cuts: fc.array(fc.nat(), { maxLength: 12 }),
        }),
        (c) => {
          let head = c.interim ? 'HTTP/1.1 100 Continue\r\n\r\n' : '';
          head += `HTTP/1.1 ${c.status} Whatever It Says\r\n`;
          for (const [k, v] of Object.entries(c.headers)) head += `${k.toUpperCase()}:  ${v} \r\n`;
          if (c.close) head += 'Connection: close\r\n';
          let body = c.body;
          if (c.framing === 'length') head += `Content-Length: ${c.body.length}\r\n`;
          else if (c.framing === 'chunked') {
            head += 'Transfer-Encoding: chunked\r\n';
            const pieces: Buffer[] = [];
            let at = 0;
            for (let i = 0; at < c.body.length; i++) {
              const n = Math.min(c.chunkSizes[i % c.chunkSizes.length]!, c.body.length - at);
              const ext = c.extension ? ';name="v;x"' : '';
              pieces.push(
                Buffer.from(`${n.toString(16)}${ext}\r\n`),
                c.body.subarray(at, at + n),
                Buffer.from('\r\n'),
              );
              at += n;
            }
            pieces.push(Buffer.from(`0\r\n${c.trailer ? 'X-Trailer: 1\r\n' : ''}\r\n`));
            body = Buffer.concat(pieces);
          }
          const wire = Buffer.concat([Buffer.from(`${head}\r\n`), body]);
          const parsed = parse(wire, c.cuts, c.framing === 'close');
          expect(parsed.status).toBe(c.status);
          for (const [k, v] of Object.entries(c.headers)) expect(parsed.headers?.[k]).toBe(v);
          expect(parsed.body.equals(c.body)).toBe(true);
          expect(parsed.done).toBe(true);
          expect(parsed.keepAlive).toBe(c.framing !== 'close' && !c.close);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('ends bodiless responses at once and joins repeated headers', () => {
    for (const status of [204, 304]) {
      const p = parse(Buffer.from(`HTTP/1.1 ${status} No\r\nA: 1\r\na: 2\r\n\r\n`), [], false);
      expect(p).toMatchObject({ status, done: true, keepAlive: true, headers: { a: '1, 2' } });
    }
    const old = parse(Buffer.from('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi'), [], false);
    expect(old).toMatchObject({ done: true, keepAlive: false });
    expect(old.body.toString()).toBe('hi');
  });

  it('does not reuse a connection that sent bytes after the response', () => {
    const p = parse(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiEXTRA'), [], false);
    expect(p.body.toString()).toBe('hi');
    expect(p.keepAlive).toBe(false);
  });

  it('rejects malformed responses and reports a connection closed too early', () => {
    const bad = [
      'HTTX/1.1 200 OK\r\n\r\n',
      'HTTP/1.1 2000 OK\r\n\r\n',
      'HTTP/1.1 200 OK\r\nno colon\r\n\r\n',
      'HTTP/1.1 200 OK\r\n folded: x\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n',
    ];
    for (const wire of bad) expect(() => parse(Buffer.from(wire), [], false), wire).toThrow(/malformed|CRLF/);
    expect(() => parse(Buffer.from(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(70_000)}`), [], false)).toThrow(
      /too large/,
    );
    for (const wire of [
      '',
      'HTTP/1.1 200 OK\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n',
    ]) {
      expect(() => parse(Buffer.from(wire), [3], true), wire).toThrow(
        expect.objectContaining({ code: 'ECONNRESET' }),
      );
    }
  });

  it("parses what Node's HTTP server sends, in the pieces a socket delivers", async () => {
    const body = Buffer.alloc(300_000, 7);
    const server = http.createServer((req, res) => {
      if (req.url === '/chunked') {
        res.write(body.subarray(0, 1000));
        res.end(body.subarray(1000));
      } else res.writeHead(200, { 'Content-Length': body.length, 'X-Test': 'yes' }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    try {
      for (const path of ['/chunked', '/length']) {
        const parts: Buffer[] = [];
        let headers: Record<string, string> = {};
        const parser = createResponseParser({
          head: (_s, h) => {
            headers = h;
          },
          body: (b, s, e) => parts.push(Buffer.from(b.subarray(s, e))),
        });
        await new Promise<void>((resolve, reject) => {
          const socket = net.connect(port, '127.0.0.1', () =>
            socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`),
          );
          socket.on('data', (chunk: Buffer) => {
            parser.feed(chunk, 0, chunk.length);
            if (parser.done) {
              socket.destroy();
              resolve();
            }
          });
          socket.on('error', reject);
        });
        expect(Buffer.concat(parts).equals(body)).toBe(true);
        expect(parser.keepAlive).toBe(true);
        if (path === '/length') expect(headers['x-test']).toBe('yes');
        else expect(headers['transfer-encoding']).toBe('chunked');
      }
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

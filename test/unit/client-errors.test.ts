/**
 * answerClientError (src/http/errors.ts) over a real socket pair: what Node's HTTP parser
 * refuses is answered in the SPEC error shape, then the connection is closed. The 400 and 431
 * cases run against a whole server in test/http/bad-input.test.ts; the 408 one takes Node a
 * minute of silence (headersTimeout), so it is driven here with the error Node reports.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { answerClientError } from '../../src/http/errors.js';

/** What the client side reads when the server side meets `code`. */
async function answered(code: string): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  try {
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const client = net.connect(address.port, '127.0.0.1');
    let text = '';
    client.on('data', (d: Buffer) => (text += d.toString('latin1')));
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const socket = await accepted;
    socket.on('error', () => undefined);
    const err = Object.assign(new Error(code), {
      code,
      bytesParsed: 0,
      rawPacket: { type: 'Buffer', data: [] },
    });
    answerClientError(err, socket);
    // A reset socket is Node's to clean up; here it is ended by hand, after the handler ran.
    if (code === 'ECONNRESET') socket.destroy();
    await closed;
    return text;
  } finally {
    server.close();
  }
}

void describe('answers to what the HTTP parser refuses', () => {
  for (const [code, status, error] of [
    ['ERR_HTTP_REQUEST_TIMEOUT', 408, 'request_timeout'],
    ['HPE_HEADER_OVERFLOW', 431, 'headers_too_large'],
    ['HPE_INVALID_CHUNK_SIZE', 400, 'bad_request'],
  ] as const) {
    void it(`${code}: ${status} ${error}, then the connection closes`, async () => {
      const text = await answered(code);
      const [head = '', body = ''] = text.split('\r\n\r\n');
      assert.match(head, new RegExp(`^HTTP/1\\.1 ${status} `));
      assert.match(head, /connection: close/i);
      const parsed = JSON.parse(body) as { error: string; message: string; details: unknown[] };
      assert.deepEqual(Object.keys(parsed).sort(), ['details', 'error', 'message']);
      assert.equal(parsed.error, error);
    });
  }

  void it('writes nothing to a connection that was reset', async () => {
    assert.equal(await answered('ECONNRESET'), '');
  });
});

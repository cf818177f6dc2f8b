import { randomBytes } from 'node:crypto';
import net from 'node:net';

/**
 * A WebSocket client that completes the upgrade of `path` by hand, then stops reading (the
 * socket is paused: once the kernel buffers fill, the server cannot send it anything more).
 * Resolves with the socket and whatever arrived after the upgrade's head.
 */
export async function connectNeverReading(
  port: number,
  path: string,
): Promise<{ socket: net.Socket; early: Buffer }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(
    [
      `GET ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
      'Sec-WebSocket-Version: 13',
      '',
      '',
    ].join('\r\n'),
  );
  const early = await new Promise<Buffer>((resolve, reject) => {
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.pause();
      socket.off('data', onData);
      const head = received.subarray(0, end).toString('latin1');
      if (!head.startsWith('HTTP/1.1 101')) reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
      else resolve(received.subarray(end + 4));
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
  return { socket, early };
}

/**
 * A free TCP port on the loopback interface.
 */
import net from 'node:net';

/**
 * A free TCP port on 127.0.0.1: asked of the kernel, then released for a server to take.
 *
 * @remarks
 * Another process could take the port between the release and the server's bind; for a benchmark
 * on one machine that race is accepted.
 * @example
 * ```ts
 * const port = await freePort();
 * ```
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

/** Free ports for tests that must name a port before something binds it (tables, manifests, flags). */
import { type AddressInfo, createServer } from 'node:net';

/** A TCP port that was free on `host` a moment ago: bind port 0, read the port, close. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

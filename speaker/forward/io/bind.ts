/**
 * Binding a listening socket, shared by both implementations of the relay's I/O: a `net.Server` with
 * SO_REUSEPORT (every worker binds its own) and a long accept queue. What the server does with an
 * accepted client is up to the implementation.
 */
import type { Server } from 'node:net';
import type { BindFailure, ListenAt } from './relay-io.ts';

/**
 * Listen on `at`; resolves with null once bound, or with the failure (the server is then closed).
 * Later server errors go to `onError`.
 */
export function bindServer(
  server: Server,
  at: ListenAt,
  onError: (err: Error) => void,
): Promise<BindFailure | null> {
  return new Promise((resolve) => {
    const failed = (err: NodeJS.ErrnoException) => {
      server.close();
      resolve({ code: err.code ?? 'UNKNOWN', message: err.message });
    };
    server.once('error', failed);
    server.listen({ host: at.host, port: at.port, reusePort: true, backlog: at.backlog }, () => {
      server.off('error', failed);
      server.on('error', onError);
      resolve(null);
    });
  });
}

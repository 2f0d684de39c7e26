/**
 * The baseline: the TCP proxy any Node user could write in ten lines, `socket.pipe()` both ways and
 * nothing else (no health checks, no timeouts, no retries). It is what Switchyard's hot path must
 * beat to be worth its complexity.
 *
 * Usage: node --import tsx bench/naive-proxy.ts --listen HOST:PORT --target HOST:PORT
 * Prints `listening HOST:PORT` once it accepts connections (PORT 0 picks a free one).
 */
import { connect, createServer } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { listen: { type: 'string' }, target: { type: 'string' } } });
const [listenHost, listenPort] = (values.listen ?? '127.0.0.1:0').split(':');
const [targetHost, targetPort] = (values.target ?? '').split(':');

const server = createServer((client) => {
  const upstream = connect(Number(targetPort), targetHost);
  client.pipe(upstream).pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
});

// The one departure from ten lines: a listen backlog as deep as HAProxy's, so that a burst of
// 10,000 connects is not cut short by dropped SYNs (Node's default backlog is 511).
server.listen({ port: Number(listenPort), host: listenHost, backlog: 4096 }, () => {
  const addr = server.address();
  if (addr && typeof addr === 'object') process.stdout.write(`listening ${addr.address}:${addr.port}\n`);
});

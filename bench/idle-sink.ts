/**
 * The backend of the `idle` scenario: accepts connections and holds them, reading and discarding
 * anything sent. Prints `listening HOST:PORT` when ready and `held N` once N connections are open
 * at the same time, so the harness knows every proxied connection reached the backend.
 *
 * Usage: node --import tsx bench/idle-sink.ts --listen HOST:PORT --expect N
 */
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { listen: { type: 'string' }, expect: { type: 'string' } } });
const [host, port] = (values.listen ?? '127.0.0.1:0').split(':');
const expect = Number(values.expect ?? '0');

let live = 0;
let reported = false;
const server = createServer((sock) => {
  live++;
  if (!reported && live >= expect) {
    reported = true;
    process.stdout.write(`held ${live}\n`);
  }
  sock.on('data', () => {});
  sock.on('error', () => {});
  sock.on('close', () => {
    live--;
  });
});
// A deep accept queue: 10,000 connections arrive in a burst.
server.listen({ host, port: Number(port), backlog: 4096 }, () => {
  const addr = server.address();
  if (addr && typeof addr === 'object') process.stdout.write(`listening ${addr.address}:${addr.port}\n`);
});

/**
 * The client of the `idle` scenario: opens N connections to a target, spread over several source
 * addresses, a bounded number in flight at a time, then holds them open and silent until stopped.
 * Prints `open N` when all are established, or `failed OPEN ERRORS: first error` and exits 1.
 *
 * Usage: node --import tsx bench/idle-client.ts --target HOST:PORT --connections N --sources A,B,...
 */
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';

/** Connection attempts in flight at once: enough to be quick, few enough not to overflow accept queues. */
const IN_FLIGHT = 200;
/** The whole opening phase is bounded. */
const OPEN_TIMEOUT_MS = 60_000;

const { values } = parseArgs({
  options: {
    target: { type: 'string' },
    connections: { type: 'string' },
    sources: { type: 'string', default: '' },
  },
});
const [host, port] = (values.target ?? '').split(':');
const total = Number(values.connections ?? '0');
const sources = (values.sources ?? '').split(',').filter((s) => s !== '');

const sockets: Socket[] = [];
let started = 0;
let open = 0;
let errors = 0;
let firstError = '';
let finished = false;

function finish(): void {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  if (open === total) {
    process.stdout.write(`open ${open}\n`);
    return;
  }
  process.stdout.write(`failed ${open} ${errors}: ${firstError || 'timed out'}\n`);
  for (const s of sockets) s.destroy();
  process.exitCode = 1;
}

function next(): void {
  if (finished || started >= total) return;
  const i = started++;
  const localAddress = sources.length > 0 ? sources[i % sources.length] : undefined;
  const sock = connect({ host, port: Number(port), localAddress });
  sockets.push(sock);
  let established = false;
  sock.once('connect', () => {
    established = true;
    open++;
    if (open === total) finish();
    else next();
  });
  sock.on('data', () => {});
  sock.on('error', (err) => {
    errors++;
    firstError ||= err.message;
  });
  sock.on('close', () => {
    if (established) open--;
    // Any connection lost while opening (refused, or dropped by the proxy) fails the run: a retry
    // would hide exactly what the scenario measures.
    firstError ||= 'a connection closed while opening';
    finish();
  });
}

const timer = setTimeout(finish, OPEN_TIMEOUT_MS);
for (let i = 0; i < Math.min(IN_FLIGHT, total); i++) next();

/**
 * The byte-exact relay scenario, runnable on its own so that the test can run it inside a network
 * namespace of its own: many connections through the real speaker each move a large stream both
 * ways, with the order of the two FINs chosen at random (either side may half-close first while the
 * other keeps sending). Every byte must arrive exactly once and in order (the SHA-256 of what each
 * side sent equals the SHA-256 of what the other received), and two seconds after the last FIN no
 * socket of the run may stay in CLOSE_WAIT, FIN_WAIT, LAST_ACK or CLOSING. Prints one JSON line with
 * the result when run as a program:
 *
 *   node --import tsx test/reliability/byte-exact-scenario.ts '{"connections":40,"bytesEachWay":1048576,"seed":1}'
 */
import { createHash, type Hash, randomBytes } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { within } from '../speaker/loopback.ts';
import { startBackedSpeaker } from './backed-speaker.ts';
import { clientSources } from './load.ts';
import { TCP_STATE, tcpSockets } from './proc-stats.ts';
import { metricValue } from './speaker-process.ts';

/** What to run. */
export interface ByteExactOptions {
  readonly connections: number;
  readonly bytesEachWay: number;
  readonly seed: number;
  /** How long every connection may take to finish, in ms. */
  readonly deadlineMs: number;
}

/** What happened. */
export interface ByteExactResult {
  readonly exact: number;
  /** The first few connections that were not exact, and why. */
  readonly bad: readonly string[];
  /** Connections per mode. */
  readonly modes: Readonly<Record<string, number>>;
  readonly seconds: number;
  readonly socketsSeen: number;
  /** Sockets of the run half-closed in both snapshots, as `/proc/net/tcp` showed them. */
  readonly lingering: readonly string[];
  readonly activeAfter: number | null;
}

/** Who sends first and who half-closes first. */
export const MODES = ['both-at-once', 'client-first', 'backend-first'] as const;
type Mode = (typeof MODES)[number];
const HEADER = 9;
const BLOCK = randomBytes(2 ** 20);
/** States a socket must have left two seconds after the last FIN. */
const LINGERING = new Set<string>([
  TCP_STATE.CLOSE_WAIT,
  TCP_STATE.FIN_WAIT1,
  TCP_STATE.FIN_WAIT2,
  TCP_STATE.LAST_ACK,
  TCP_STATE.CLOSING,
]);

/** How long a socket must stay half-closed, between two snapshots, to count as stuck. */
const LINGER_RECHECK_MS = 500;

/** A small seeded generator (mulberry32): chunk sizes and offsets, reproducible from the seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Write `total` bytes of slices of BLOCK in random sizes, honouring backpressure, then FIN. */
async function pump(s: Socket, total: number, random: () => number, hash: Hash): Promise<void> {
  let left = total;
  while (left > 0) {
    if (s.destroyed) throw new Error('socket destroyed while sending');
    const size = Math.min(left, 1 + Math.floor(random() * 65_536));
    const start = Math.floor(random() * (BLOCK.length - size));
    const chunk = BLOCK.subarray(start, start + size);
    hash.update(chunk);
    left -= size;
    if (!s.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          s.off('close', onClose);
          resolve();
        };
        const onClose = () => {
          s.off('drain', onDrain);
          reject(new Error('closed while waiting to send'));
        };
        s.once('drain', onDrain);
        s.once('close', onClose);
      });
    }
  }
  s.end();
}

/** What one side received: byte count and SHA-256, once the peer's FIN arrived. */
function receive(s: Socket, skip: number): Promise<{ bytes: number; sha: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  let skipped = 0;
  return new Promise((resolve, reject) => {
    s.on('data', (d: Buffer) => {
      if (skipped < skip) {
        const take = Math.min(skip - skipped, d.length);
        skipped += take;
        d = d.subarray(take);
      }
      bytes += d.length;
      hash.update(d);
    });
    s.once('end', () => resolve({ bytes, sha: hash.digest('hex') }));
    s.once('error', reject);
    s.once('close', () => reject(new Error('closed before the FIN')));
  });
}

interface Record_ {
  upSent?: string;
  upReceived?: { bytes: number; sha: string };
  downSent?: string;
  downReceived?: { bytes: number; sha: string };
  error?: string;
}

/** Run the scenario: a speaker with one listener before a byte-exact peer, then the clients. */
export async function runByteExact(o: ByteExactOptions): Promise<ByteExactResult> {
  const records = new Map<number, Record_>();
  const seed = o.seed;
  // The backend learns id, byte count and mode from a 9-byte header, then plays its part.
  const server = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    let header = Buffer.alloc(0);
    const onHeader = (d: Buffer) => {
      header = Buffer.concat([header, d]);
      if (header.length < HEADER) return;
      s.off('data', onHeader);
      s.pause();
      const id = header.readUInt32BE(0);
      const down = header.readUInt32BE(4);
      const mode = MODES[header[8]!]!;
      const rec = records.get(id) ?? {};
      records.set(id, rec);
      const rest = header.subarray(HEADER);
      const received = receive(s, 0);
      if (rest.length > 0) s.unshift(rest);
      s.resume();
      const hash = createHash('sha256');
      const send = () =>
        pump(s, down, rng(seed ^ id ^ 0x5a5a), hash).then(() => {
          rec.downSent = hash.digest('hex');
        });
      received.then(
        (r) => {
          rec.upReceived = r;
        },
        (err: Error) => {
          rec.error ??= `backend receive: ${err.message}`;
        },
      );
      const sending = mode === 'client-first' ? received.then(send) : send();
      sending.catch((err: Error) => {
        rec.error ??= `backend send: ${err.message}`;
      });
    };
    s.on('data', onHeader);
    // Health probes connect and leave without a header: close our side too.
    s.once('end', () => {
      if (header.length < HEADER) s.end();
    });
  });
  const rig = await startBackedSpeaker({
    service: 'bytes/stream',
    server,
    backlog: 2048,
    listener: { timeouts: { connect: '5s', idle: '2m', halfClosed: '2m', drain: '5s' } },
  });
  try {
    const { speaker, vip, port, backendAddress } = rig;
    const sources = clientSources(8);
    const random = rng(seed);
    const modeCounts = new Map<Mode, number>();
    const started = performance.now();
    const one = async (id: number): Promise<void> => {
      const mode = MODES[Math.floor(random() * MODES.length)]!;
      modeCounts.set(mode, (modeCounts.get(mode) ?? 0) + 1);
      const rec: Record_ = records.get(id) ?? {};
      records.set(id, rec);
      const s = connect({
        host: vip,
        port,
        localAddress: sources[id % sources.length]!,
        allowHalfOpen: true,
      });
      s.on('error', (err) => {
        rec.error ??= `client: ${err.message}`;
      });
      const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
      await new Promise<void>((resolve, reject) => {
        s.once('connect', resolve);
        s.once('error', reject);
      });
      const header = Buffer.alloc(HEADER);
      header.writeUInt32BE(id, 0);
      header.writeUInt32BE(o.bytesEachWay, 4);
      header[8] = MODES.indexOf(mode);
      s.write(header);
      const received = receive(s, 0);
      const hash = createHash('sha256');
      const send = () =>
        pump(s, o.bytesEachWay, rng(seed ^ id ^ 0xa5a5), hash).then(() => {
          rec.upSent = hash.digest('hex');
        });
      const sending = mode === 'backend-first' ? received.then(send) : send();
      const [r] = await Promise.all([received, sending]);
      rec.downReceived = r;
      await closed;
    };
    const results = await within(
      o.deadlineMs,
      'every connection to finish',
      Promise.allSettled(Array.from({ length: o.connections }, (_, i) => one(i))),
    );
    const lastFin = performance.now();
    const seconds = (lastFin - started) / 1000;
    // Two seconds after the last FIN, nothing of this run may be stuck half-closed or closing. The
    // speaker's health probes go on meanwhile, and one that closed a moment before a snapshot is
    // seen in CLOSE_WAIT/FIN_WAIT2 until the backend here handles its FIN: only a socket in the same
    // state in two snapshots half a second apart is stuck.
    await new Promise((r) => setTimeout(r, 2000));
    const addresses = new Set([vip, backendAddress, ...sources]);
    const halfClosed = () =>
      new Set(tcpSockets(addresses).flatMap((s) => (LINGERING.has(s.state) ? [JSON.stringify(s)] : [])));
    const first = halfClosed();
    await new Promise((r) => setTimeout(r, LINGER_RECHECK_MS));
    const sockets = tcpSockets(addresses);
    const lingering = sockets.filter((s) => first.has(JSON.stringify(s)));
    const metrics = await speaker.metrics();

    let exact = 0;
    const bad: string[] = [];
    for (let id = 0; id < o.connections; id++) {
      const rec = records.get(id);
      const r = results[id]!;
      const ok =
        r.status === 'fulfilled' &&
        rec !== undefined &&
        rec.error === undefined &&
        rec.upReceived?.bytes === o.bytesEachWay &&
        rec.downReceived?.bytes === o.bytesEachWay &&
        rec.upSent === rec.upReceived?.sha &&
        rec.downSent === rec.downReceived?.sha;
      if (ok) exact++;
      else if (bad.length < 5)
        bad.push(`#${id}: ${r.status === 'rejected' ? String(r.reason) : ''} ${JSON.stringify(rec)}`);
    }

    return {
      exact,
      bad,
      modes: Object.fromEntries(modeCounts),
      seconds,
      socketsSeen: sockets.length,
      lingering: lingering.map((x) => JSON.stringify(x)),
      activeAfter: metricValue(metrics, 'switchyard_listener_connections_active'),
    };
  } finally {
    await rig.close();
  }
}

if (import.meta.main) {
  const result = await runByteExact(JSON.parse(process.argv[2] ?? '{}') as ByteExactOptions);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

/**
 * Client-side load for the reliability items: many idle connections and a steady stream of short
 * ones, with source addresses spread over several 127.x addresses so that no single (source,
 * destination) pair runs out of ephemeral ports. Every loop is bounded in count and in time.
 */
import { connect, type Socket } from 'node:net';

/** `count` distinct client source addresses in 127.a.b.0/24, away from the fixtures' own. */
export function clientSources(count: number): string[] {
  const a = 230 + Math.floor(Math.random() * 20);
  const b = Math.floor(Math.random() * 250) + 1;
  return Array.from({ length: count }, (_, i) => `127.${a}.${b}.${i + 1}`);
}

/** Connect from `localAddress`; resolves with the socket once connected, rejects on error or timeout. */
export function connectFrom(
  host: string,
  port: number,
  localAddress: string,
  timeoutMs = 5000,
  allowHalfOpen = false,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, localAddress, allowHalfOpen });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`connect timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** One echo exchange on a fresh connection: connect, send, read the echo, close. */
export function echoOnce(
  host: string,
  port: number,
  localAddress: string,
  payload: string,
  timeoutMs = 5000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, localAddress });
    let got = '';
    let done = false;
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => finish(new Error(`no echo within ${timeoutMs} ms`)), timeoutMs);
    s.once('connect', () => s.write(payload));
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.length >= payload.length) {
        finish(got === payload ? null : new Error(`echo mismatch: ${JSON.stringify(got.slice(0, 40))}`));
      }
    });
    s.on('error', (err) => finish(err));
    s.on('close', () => finish(new Error('closed before the echo')));
  });
}

/** Open `count` connections that stay open and idle, `concurrency` at a time; each proves one echo first. */
export async function openIdle(
  count: number,
  host: string,
  port: number,
  sources: readonly string[],
  concurrency = 200,
): Promise<Socket[]> {
  const sockets: Socket[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const s = await connectFrom(host, port, sources[i % sources.length]!, 10_000);
      s.on('error', () => {});
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no echo on an idle connection')), 10_000);
        s.once('data', () => {
          clearTimeout(t);
          resolve();
        });
        s.write('i');
      });
      sockets.push(s);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return sockets;
}

/** What a steady stream saw. */
export interface StreamResult {
  readonly attempted: number;
  readonly failed: number;
  /** Failure messages and how often each happened. */
  readonly failures: ReadonlyMap<string, number>;
}

/** Options of a steady stream of short echo connections. */
export interface StreamOptions {
  readonly host: string;
  readonly port: number;
  readonly sources: readonly string[];
  /** New connections per second. */
  readonly rate: number;
  readonly durationMs: number;
  /** Most connections in flight; beyond it a tick waits (counted as neither attempt nor failure). */
  readonly maxInFlight?: number;
  readonly timeoutMs?: number;
  /** Called once per second with the counts so far (for progress figures). */
  readonly onSecond?: (attempted: number, failed: number) => void;
}

/** Run a steady stream of echo connections at `rate` per second for `durationMs`. */
export async function steadyStream(opts: StreamOptions): Promise<StreamResult> {
  const tickMs = 10;
  const maxInFlight = opts.maxInFlight ?? 2000;
  const failures = new Map<string, number>();
  let attempted = 0;
  let failed = 0;
  let inFlight = 0;
  let owed = 0;
  const pending = new Set<Promise<void>>();
  const start = performance.now();
  let lastSecond = start;
  let lastTick = start;
  while (performance.now() - start < opts.durationMs) {
    const now = performance.now();
    // Credit the time that really passed (a tick on a loaded machine is often longer than `tickMs`),
    // but never more than a second's worth after a stall.
    owed = Math.min(owed + (opts.rate * (now - lastTick)) / 1000, opts.rate);
    lastTick = now;
    while (owed >= 1 && inFlight < maxInFlight) {
      owed--;
      const source = opts.sources[attempted % opts.sources.length]!;
      attempted++;
      inFlight++;
      const p = echoOnce(opts.host, opts.port, source, 'ping', opts.timeoutMs ?? 5000)
        .catch((err: NodeJS.ErrnoException) => {
          failed++;
          const why = err.code ?? err.message;
          failures.set(why, (failures.get(why) ?? 0) + 1);
        })
        .finally(() => {
          inFlight--;
          pending.delete(p);
        });
      pending.add(p);
    }
    if (opts.onSecond && now - lastSecond >= 1000) {
      lastSecond = now;
      opts.onSecond(attempted, failed);
    }
    await new Promise((r) => setTimeout(r, tickMs));
  }
  await Promise.all(pending);
  return { attempted, failed, failures };
}

/** Close sockets and wait for every one to be closed (bounded by the caller). */
export async function closeAll(sockets: readonly Socket[]): Promise<void> {
  await Promise.all(
    sockets.map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.destroyed) return resolve();
          s.once('close', () => resolve());
          s.destroy();
        }),
    ),
  );
}

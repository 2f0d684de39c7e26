/**
 * A real `redis-server` for tests: started on a free loopback port with a throw-away directory and no
 * persistence, stopped by PID. It can be restarted on the same port (optionally with the data saved
 * first) and paused with SIGSTOP to look unreachable while its sockets stay open.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from './ports.ts';

/** How long a redis-server gets to say it is ready or to exit. */
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

/** A running test Redis. */
export interface TestRedis {
  readonly host: string;
  readonly port: number;
  /** `redis://127.0.0.1:PORT` (no password in it even when one is required). */
  readonly url: string;
  /** PID of the current redis-server process. */
  pid(): number;
  /** Send one command over a fresh socket and return the first reply line, e.g. `+PONG`. */
  command(...args: string[]): Promise<string>;
  /** Stop the server (SIGTERM, then SIGKILL if it does not exit in time). Idempotent. */
  stop(): Promise<void>;
  /** Stop and start again on the same port; `keepData` runs SAVE first so the data is loaded again. */
  restart(opts?: { keepData?: boolean }): Promise<void>;
  /** SIGSTOP: connections stay open but nothing answers. */
  pause(): void;
  /** SIGCONT after `pause()`. */
  resume(): void;
}

/** Options for `startRedis`. */
export interface StartRedisOptions {
  /** Sets `requirepass`. */
  readonly password?: string;
}

/**
 * Path of the redis-server binary: $REDIS_SERVER, /usr/bin/redis-server, or the first on PATH.
 * Throws, telling how to install it, when there is none: the store tests fail rather than skip.
 */
export function findRedisServer(
  env: Readonly<Record<string, string | undefined>> = process.env,
  standardPath = '/usr/bin/redis-server',
): string {
  const candidates = [env['REDIS_SERVER'], standardPath];
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (dir) candidates.push(join(dir, 'redis-server'));
  }
  for (const c of candidates) if (c && existsSync(c)) return c;
  throw new Error(
    `redis-server not found (looked at $REDIS_SERVER, ${standardPath} and PATH): ` +
      'install it, e.g. `sudo apt-get install redis-server` (or run `bash .ci/run`), then run the tests again',
  );
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Start redis-server on `port` in `dir`; resolves once it logs that it accepts connections. */
function launch(bin: string, port: number, dir: string, password: string | undefined): Promise<ChildProcess> {
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    '--daemonize',
    'no',
    '--logfile',
    '',
    '--loglevel',
    'notice',
    '--protected-mode',
    'no',
  ];
  if (password !== undefined) args.push('--requirepass', password);
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`redis-server on port ${port} did not become ready in ${START_TIMEOUT_MS} ms:\n${log}`),
      );
    }, START_TIMEOUT_MS);
    const onData = (d: Buffer): void => {
      log += d.toString();
      if (log.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        // Keep draining so a full pipe never blocks the server.
        child.stdout?.resume();
        resolve(child);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => {
      log += d.toString();
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited early (code ${code}, signal ${signal}):\n${log}`));
    });
  });
}

/** Send one RESP command on a new socket; resolves with the first line of the reply. */
function rawCommand(port: number, password: string | undefined, args: string[]): Promise<string> {
  const encode = (parts: string[]): string =>
    `*${parts.length}\r\n${parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join('')}`;
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    let skip = password === undefined ? 0 : 1;
    sock.setTimeout(START_TIMEOUT_MS, () => sock.destroy(new Error(`no reply to ${args[0]} on ${port}`)));
    sock.on('connect', () => {
      if (password !== undefined) sock.write(encode(['AUTH', password]));
      sock.write(encode(args));
    });
    sock.on('data', (d) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\r\n'); nl >= 0; nl = buf.indexOf('\r\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        if (skip > 0) {
          skip--;
          continue;
        }
        sock.end();
        resolve(line);
        return;
      }
    });
    sock.on('error', reject);
  });
}

/** Start a throw-away redis-server on a free 127.0.0.1 port. Call `stop()` in `after()`. */
export async function startRedis(opts: StartRedisOptions = {}): Promise<TestRedis> {
  const bin = findRedisServer();
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  // The free port can be taken between probing and binding; a few tries settle that race.
  for (let attempt = 0; attempt < 5 && child === undefined; attempt++) {
    port = await freePort();
    try {
      child = await launch(bin, port, dir, opts.password);
    } catch (err) {
      if (attempt === 4) throw err;
    }
  }
  if (child === undefined) throw new Error('redis-server did not start');
  const ping = async (): Promise<void> => {
    const reply = await rawCommand(port, opts.password, ['PING']);
    if (reply !== '+PONG') throw new Error(`redis-server on port ${port} answered PING with ${reply}`);
  };
  await ping();
  let current: ChildProcess = child;
  let paused = false;

  const stopCurrent = async (): Promise<void> => {
    if (current.exitCode !== null || current.signalCode !== null) return;
    if (paused) {
      current.kill('SIGCONT');
      paused = false;
    }
    current.kill('SIGTERM');
    if (!(await waitForExit(current, STOP_TIMEOUT_MS))) {
      current.kill('SIGKILL');
      await waitForExit(current, STOP_TIMEOUT_MS);
    }
  };

  const redis: TestRedis = {
    host: '127.0.0.1',
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: () => current.pid ?? -1,
    command: (...args) => rawCommand(port, opts.password, args),
    async stop() {
      await stopCurrent();
      await rm(dir, { recursive: true, force: true });
    },
    async restart(r = {}) {
      if (r.keepData) {
        const reply = await rawCommand(port, opts.password, ['SAVE']);
        if (reply !== '+OK') throw new Error(`SAVE failed: ${reply}`);
      }
      await stopCurrent();
      current = await launch(bin, port, dir, opts.password);
      await ping();
    },
    pause() {
      current.kill('SIGSTOP');
      paused = true;
    },
    resume() {
      current.kill('SIGCONT');
      paused = false;
    },
  };
  return redis;
}

/**
 * Manual measurement of the data plane (not a test: no assertions, not run by `npm test`). It starts
 * each proxy as its own process on loopback and reports RSS per idle proxied connection, one-stream
 * throughput and short-connection rate, for the switchyard speaker (--workers 0), a plain Node proxy
 * (pipe both ways) and HAProxy (one thread, mode tcp) when installed. Run from the repository root:
 *
 *   PATH=$PWD/node_modules/.bin:$PATH node --import tsx test/speaker/measure-dataplane.ts \
 *     [idle connections=9000] [MiB=1024] [short connections=10000] [kinds=switchyard,plain,haproxy]
 *
 * Each connection costs this process two descriptors: keep idle connections under half of `ulimit -n`.
 * Numbers are for comparing kinds on one machine at one time; they say nothing absolute.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [idleCount = 9000, mib = 1024, shortCount = 10_000] = process.argv.slice(2, 5).map(Number);
const kinds = (process.argv[5] ?? 'switchyard,plain,haproxy')
  .split(',')
  .filter((k) => k !== 'haproxy' || existsSync('/usr/sbin/haproxy'));
const node = join(process.cwd(), 'node_modules/.bin/node');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A plain Node TCP proxy: what `pipe()` gives without any of the speaker's machinery. */
const PLAIN_PROXY = `
const net = require('node:net');
const [vip, port, bh, bp] = process.argv.slice(1);
net.createServer({ allowHalfOpen: true }, (c) => {
  const b = net.connect({ host: bh, port: Number(bp), allowHalfOpen: true });
  c.on('error', () => b.destroy()); b.on('error', () => c.destroy());
  c.pipe(b); b.pipe(c);
}).listen({ host: vip, port: Number(port) });`;

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

async function startProxy(
  kind: string,
  vip: string,
  port: number,
  bh: string,
  bp: number,
): Promise<ChildProcess> {
  let child: ChildProcess;
  if (kind === 'switchyard') {
    const path = join(tmpdir(), `measure-table-${process.pid}.json`);
    const listener = {
      service: 'bench/x',
      vip,
      port,
      healthCheck: { type: 'tcp', interval: '60s' },
      timeouts: { idle: '10m' },
      backends: [{ address: bh, nodePort: bp }],
    };
    writeFileSync(path, JSON.stringify({ version: 1, listeners: [listener] }));
    const args = ['bin/switchyard.mjs', 'speaker', '--table', path, '--workers', '0'];
    child = spawn(node, [...args, '--metrics-address', 'off', '--log-level', 'warn'], { stdio: 'inherit' });
  } else if (kind === 'haproxy') {
    const cfg = join(tmpdir(), `measure-haproxy-${process.pid}.cfg`);
    writeFileSync(
      cfg,
      [
        'global\n  maxconn 9800\n  nbthread 1',
        'defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 10m\n  timeout server 10m',
        `frontend f\n  bind ${vip}:${port}\n  default_backend b`,
        `backend b\n  server s1 ${bh}:${bp}\n`,
      ].join('\n'),
    );
    child = spawn('/usr/sbin/haproxy', ['-f', cfg, '-db'], { stdio: 'inherit' });
  } else {
    child = spawn(node, ['-e', PLAIN_PROXY, vip, String(port), bh, String(bp)], { stdio: 'inherit' });
  }
  for (let i = 0; i < 200 && !(await canConnect(vip, port)); i++) await sleep(100);
  return child;
}

async function backendOn(
  host: string,
  onSocket: (s: Socket) => void,
): Promise<{ port: number; close(): void }> {
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

const freshPort = () => 20_000 + Math.floor(Math.random() * 10_000);

async function idleRss(kind: string, n: number): Promise<string> {
  const backend = await backendOn('127.0.9.2', (s) => s.on('data', (d) => s.write(d)));
  const vip = '127.0.9.1';
  const port = freshPort();
  const proxy = await startProxy(kind, vip, port, '127.0.9.2', backend.port);
  await sleep(1000);
  const before = rssKiB(proxy.pid!);
  const clients: Socket[] = [];
  for (let i = 0; i < n; i += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, n - i) }, async () => {
        const s = connect({ host: vip, port });
        s.on('error', () => {});
        clients.push(s);
        await once(s, 'connect');
        s.write('hello');
        await once(s, 'data');
      }),
    );
  }
  await sleep(3000);
  const after = rssKiB(proxy.pid!);
  for (const s of clients) s.destroy();
  proxy.kill('SIGKILL');
  backend.close();
  await sleep(500);
  const perConn = ((after - before) / n).toFixed(1);
  return `${kind}: RSS ${Math.round(before / 1024)} -> ${Math.round(after / 1024)} MiB with ${n} idle connections: ${perConn} KiB each`;
}

async function throughput(kind: string, total: number): Promise<string> {
  const backend = await backendOn('127.0.9.4', (s) => {
    s.resume();
    s.on('end', () => s.end());
  });
  const vip = '127.0.9.3';
  const port = freshPort();
  const proxy = await startProxy(kind, vip, port, '127.0.9.4', backend.port);
  const runs: number[] = [];
  const chunk = Buffer.alloc(256 * 1024, 7);
  for (let round = 0; round < 3; round++) {
    const s = connect({ host: vip, port });
    s.on('error', () => {});
    await once(s, 'connect');
    const t0 = performance.now();
    let sent = 0;
    await new Promise<void>((resolve) => {
      const pump = () => {
        while (sent < total * 1024 * 1024) {
          sent += chunk.length;
          if (!s.write(chunk)) {
            s.once('drain', pump);
            return;
          }
        }
        s.end();
      };
      s.on('close', () => resolve());
      s.resume();
      pump();
    });
    runs.push(total / ((performance.now() - t0) / 1000));
  }
  proxy.kill('SIGKILL');
  backend.close();
  return `${kind}: ${total} MiB one stream: best ${Math.max(...runs).toFixed(0)} MiB/s (runs ${runs.map((r) => r.toFixed(0)).join(', ')})`;
}

async function rate(kind: string, n: number): Promise<string> {
  const backend = await backendOn('127.0.9.6', (s) => s.on('data', (d) => s.end(d)));
  const vip = '127.0.9.5';
  const port = freshPort();
  const proxy = await startProxy(kind, vip, port, '127.0.9.6', backend.port);
  const one = () =>
    new Promise<void>((resolve) => {
      const s = connect({ host: vip, port });
      s.on('error', () => resolve());
      s.on('connect', () => s.write('x'));
      s.resume();
      s.on('close', () => resolve());
    });
  const t0 = performance.now();
  let started = 0;
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (started < n) {
        started++;
        await one();
      }
    }),
  );
  const perSecond = n / ((performance.now() - t0) / 1000);
  proxy.kill('SIGKILL');
  backend.close();
  return `${kind}: ${n} short connections, 50 at a time: ${perSecond.toFixed(0)} per second`;
}

if (idleCount > 0) for (const k of kinds) console.log(await idleRss(k, idleCount));
if (mib > 0) for (const k of kinds) console.log(await throughput(k, mib));
if (shortCount > 0) for (const k of kinds) console.log(await rate(k, shortCount));
process.exit(0);

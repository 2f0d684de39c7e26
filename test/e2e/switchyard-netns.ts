/**
 * A whole Switchyard cluster in network namespaces, for the end-to-end tests: `ctl` runs a real
 * redis-server on its 198.18 address and the controller in manifest mode; `n1`..`n3` each run a
 * speaker (l2 on eth0) and a backend on the NodePorts (30080, 30081, …) that answers with its node
 * name; `client` runs bounded client loops. Processes are the real binaries, started with
 * `ip netns exec`; every one of them is killed, and every namespace deleted, by `destroy()`.
 *
 * Options: more Services (one VIP each, from 198.18.0.100 up), a management network (Redis and the
 * speakers talk over `eth1`, so a test can take a node's client-facing `eth0` down and leave the store
 * reachable), and extra speaker flags.
 */
import type { ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { preferredOwner } from '../../speaker/ownership/rendezvous.ts';
import { NetnsCluster } from '../harness/netns.ts';
import { findRedisServer } from '../harness/redis.ts';
import { eventually } from '../harness/wait.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/switchyard.mjs');
const CLIENT = join(import.meta.dirname, 'fixtures/tcp-client.mjs');
const BLOCK_LOOP = join(import.meta.dirname, 'fixtures/block-event-loop.mjs');
/** Where a speaker started with `inspect` listens for the inspector, inside its node's namespace. */
const INSPECTOR = '127.0.0.1:9229';

/** The first Service's VIP (pinned by annotation, from the pool 198.18.0.100-130) and ports. */
export const VIP = '198.18.0.100';
export const PORT = 80;
export const NODE_PORT = 30080;

/** The VIPs of a cluster of `services` Services: 198.18.0.100, .101, … */
export function vipsOf(services: number): string[] {
  return Array.from({ length: services }, (_, i) => `198.18.0.${100 + i}`);
}

/** The VIPs of `services` IPv6 Services: 2001:2::100, 2001:2::101, … */
export function vips6Of(services: number): string[] {
  return Array.from({ length: services }, (_, i) => `2001:2::${(0x100 + i).toString(16)}`);
}

/** NodePorts of the IPv6 Services start here. */
const NODE_PORT6 = 30180;
export const NODES = ['n1', 'n2', 'n3'] as const;
/** Host order gives n1..n3 the addresses 198.18.0.11-13, client .10 and ctl .14. */
const HOSTS = ['client', ...NODES, 'ctl'];
const KEY_PREFIX = 'switchyard:';

/** The node the rendezvous hash prefers for the VIP when every node is up. */
export const PREFERRED = preferredOwner(VIP, [...NODES])!;

/**
 * Where every process's output is also written, one file per process name, when the environment
 * names a folder: `SWITCHYARD_E2E_LOGS=/tmp/e2e-logs node --import tsx --test test/e2e/…`.
 */
const LOG_DIR = process.env.SWITCHYARD_E2E_LOGS ?? '';

/** Resolve after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** `eventually(probe)` every `everyMs`, resolving with the ms it took (the timelines report them). */
export async function until(
  probe: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  everyMs = 100,
): Promise<number> {
  const start = performance.now();
  await eventually(probe, timeoutMs, what, everyMs);
  return performance.now() - start;
}

/** A process started in a namespace, with its output kept. */
export class Proc {
  readonly child: ChildProcess;
  readonly name: string;
  /** Lines of stdout (NDJSON for Switchyard's binaries). */
  readonly lines: string[] = [];
  stderr = '';
  private readonly waiters: { pred: (l: string) => boolean; resolve: (l: string) => void }[] = [];

  constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.child = child;
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.lines.push(line);
        if (LOG_DIR !== '') appendFileSync(join(LOG_DIR, `${name.replaceAll(' ', '-')}.log`), `${line}\n`);
        for (const w of [...this.waiters]) {
          if (w.pred(line)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    });
    child.stderr?.on('data', (d: Buffer) => {
      // Bounded: only the tail matters when a test fails.
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
  }

  /** The first line (seen already or coming) that matches; rejects after `timeoutMs` or on exit. */
  waitLine(pred: (l: string) => boolean, timeoutMs: number, what: string): Promise<string> {
    const seen = this.lines.find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (l: string) => {
          clearTimeout(timer);
          this.child.off('exit', onExit);
          resolve(l);
        },
      };
      const fail = (why: string) => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        this.child.off('exit', onExit);
        reject(new Error(`${this.name}: ${why} waiting for ${what}; stderr: ${this.stderr.slice(-800)}`));
      };
      const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
      const onExit = () => {
        clearTimeout(timer);
        fail('exited');
      };
      this.child.once('exit', onExit);
      this.waiters.push(w);
    });
  }

  /** Whether the process is still running. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
}

/** One client attempt, as tcp-client.mjs prints it. */
export interface Attempt {
  /** Wall-clock ms when the attempt started and ended. */
  readonly s: number;
  readonly t: number;
  /** Wall-clock ms when the connection was accepted; absent when it never was. */
  readonly c?: number;
  readonly ok: boolean;
  /** The node whose backend answered. */
  readonly node?: string;
  readonly err?: string;
}

/** A client loop running in the client namespace. */
export class ClientLoop {
  readonly proc: Proc;
  constructor(proc: Proc) {
    this.proc = proc;
  }

  /** Every attempt so far. */
  attempts(): Attempt[] {
    return this.proc.lines.map((l) => JSON.parse(l) as Attempt);
  }

  /** The first attempt matching `pred`, waiting up to `timeoutMs`. */
  async next(pred: (a: Attempt) => boolean, timeoutMs: number, what: string): Promise<Attempt> {
    const line = await this.proc.waitLine((l) => pred(JSON.parse(l) as Attempt), timeoutMs, what);
    return JSON.parse(line) as Attempt;
  }

  /** Resolves when the loop has ended by itself (its count or time bound). */
  async done(timeoutMs: number): Promise<Attempt[]> {
    if (this.proc.running) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`client loop still running after ${timeoutMs} ms`)),
          timeoutMs,
        );
        this.proc.child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.attempts();
  }
}

/** What a cluster is started with. */
export interface ClusterOptions {
  /** Services, one VIP each; default 1. */
  readonly services?: number;
  /** Put Redis on a management network (`eth1`) apart from the clients' segment. */
  readonly mgmt?: boolean;
  /** Extra flags for every speaker. */
  readonly speakerArgs?: readonly string[];
  /** Start every speaker with its inspector on, for `blockEventLoop`. */
  readonly inspect?: boolean;
  /** IPv6 Services (single-stack, one VIP each, from 2001:2::100 up); the nodes get IPv6 addresses. */
  readonly ipv6Services?: number;
  /**
   * Redis under Sentinel: a master on 6379, a replica on 6380 and one Sentinel on 26379 (quorum 1,
   * master down after 1 s), all in `ctl`; the controller and the speakers find the master through it.
   */
  readonly sentinel?: boolean;
}

/** The master name the e2e Sentinel watches. */
const SENTINEL_MASTER = 'e2e';

function serviceDoc(i: number): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: ${i === 0 ? 'web' : `web-${i}`}
  namespace: default
  annotations: {switchyard.io/loadBalancerIPs: ${vipsOf(i + 1)[i]}}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{name: http, protocol: TCP, port: ${PORT}, targetPort: 8080, nodePort: ${NODE_PORT + i}}]
`;
}

function service6Doc(i: number): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: web6-${i}
  namespace: default
  annotations: {switchyard.io/loadBalancerIPs: "${vips6Of(i + 1)[i]}"}
spec:
  type: LoadBalancer
  ipFamilyPolicy: SingleStack
  ipFamilies: [IPv6]
  selector: {app: web}
  ports: [{name: http, protocol: TCP, port: ${PORT}, targetPort: 8080, nodePort: ${NODE_PORT6 + i}}]
`;
}

function manifest(net: NetnsCluster, services: number, services6: number): string {
  const nodes = NODES.map((n) => {
    const h = net.host(n);
    const v6 = h.address6 !== null ? `, {type: InternalIP, address: "${h.address6}"}` : '';
    return `  - apiVersion: v1
    kind: Node
    metadata: {name: ${n}}
    status:
      conditions: [{type: Ready, status: "True"}]
      addresses: [{type: InternalIP, address: ${h.address}}${v6}]`;
  }).join('\n');
  const docs = [
    ...Array.from({ length: services }, (_, i) => serviceDoc(i)),
    ...Array.from({ length: services6 }, (_, i) => service6Doc(i)),
  ];
  return `apiVersion: switchyard.io/v1beta1
kind: IPAddressPool
metadata: {name: e2e, namespace: switchyard-system}
spec:
  addresses: [198.18.0.100-198.18.0.130, "2001:2::100-2001:2::1ff"]
---
${docs.join('---\n')}---
apiVersion: v1
kind: List
items:
${nodes}
`;
}

/** The cluster: namespaces, Redis, controller, speakers, backends. */
export class SwitchyardNetns {
  readonly net: NetnsCluster;
  readonly speakers = new Map<string, Proc>();
  readonly backends = new Map<string, Proc>();
  redis!: Proc;
  /** The replica and the Sentinel, when the cluster runs under Sentinel. */
  replica: Proc | null = null;
  sentinel: Proc | null = null;
  /** The port of the Redis that is master now (6379, or 6380 after a failover). */
  redisPort = 6379;
  controller!: Proc;
  readonly vips: readonly string[];
  readonly vips6: readonly string[];
  private readonly dir: string;
  private readonly opts: ClusterOptions;

  private constructor(net: NetnsCluster, dir: string, opts: ClusterOptions) {
    this.net = net;
    this.dir = dir;
    this.opts = opts;
    this.vips = vipsOf(opts.services ?? 1);
    this.vips6 = vips6Of(opts.ipv6Services ?? 0);
  }

  /** Build the namespaces and start Redis, the controller, a backend and a speaker per node. */
  static async start(opts: ClusterOptions = {}): Promise<SwitchyardNetns> {
    const net = await NetnsCluster.create(HOSTS, {
      mgmt: opts.mgmt ?? false,
      ipv6: (opts.ipv6Services ?? 0) > 0,
    });
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-e2e-'));
    const c = new SwitchyardNetns(net, dir, opts);
    try {
      await writeFile(join(dir, 'cluster.yaml'), manifest(net, c.vips.length, c.vips6.length));
      await c.startRedis();
      if (opts.sentinel) await c.startSentinel();
      c.controller = c.proc('ctl', 'controller', process.execPath, [
        BIN,
        'controller',
        '--config',
        join(dir, 'cluster.yaml'),
        ...c.storeFlags(),
        '--kube-proxy-health-port',
        '0',
      ]);
      for (const n of NODES) await c.startBackend(n);
      for (const n of NODES) c.startSpeaker(n);
      await Promise.all(
        NODES.map((n) =>
          c.speakers.get(n)!.waitLine((l) => l.includes('"speaker-started"'), 30_000, 'start'),
        ),
      );
    } catch (err) {
      await c.destroy();
      throw err;
    }
    return c;
  }

  /** The address Redis is reached at: ctl's management address when there is one. */
  get ctlAddress(): string {
    const ctl = this.net.host('ctl');
    return ctl.mgmtAddress ?? ctl.address;
  }

  get redisUrl(): string {
    return `redis://${this.ctlAddress}:6379`;
  }

  /** How the controller and the speakers reach the store: the URL, or the Sentinel. */
  storeFlags(): string[] {
    return this.opts.sentinel
      ? ['--redis-sentinels', `${this.ctlAddress}:26379`, '--redis-sentinel-master', SENTINEL_MASTER]
      : ['--redis-url', this.redisUrl];
  }

  /** Start redis-server in `ctl`, without persistence: a restart loses everything. */
  async startRedis(port = 6379, extra: readonly string[] = []): Promise<Proc> {
    const p = this.proc('ctl', port === 6379 ? 'redis' : `redis-${port}`, findRedisServer(), [
      '--port',
      String(port),
      '--bind',
      this.ctlAddress,
      '--dir',
      this.dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'no',
      '--logfile',
      '',
      '--dbfilename',
      `dump-${port}.rdb`,
      ...extra,
    ]);
    await p.waitLine((l) => l.includes('Ready to accept connections'), 15_000, 'redis-server');
    if (port === 6379) this.redis = p;
    return p;
  }

  /** Start the replica (6380) and the Sentinel (26379) next to the master, and wait for both. */
  private async startSentinel(): Promise<void> {
    this.replica = await this.startRedis(6380, ['--replicaof', this.ctlAddress, '6379']);
    const conf = join(this.dir, 'sentinel.conf');
    await writeFile(
      conf,
      [
        'port 26379',
        `bind ${this.ctlAddress}`,
        'protected-mode no',
        `dir ${this.dir}`,
        `sentinel monitor ${SENTINEL_MASTER} ${this.ctlAddress} 6379 1`,
        `sentinel down-after-milliseconds ${SENTINEL_MASTER} 1000`,
        `sentinel failover-timeout ${SENTINEL_MASTER} 5000`,
        '',
      ].join('\n'),
    );
    this.sentinel = this.proc('ctl', 'sentinel', findRedisServer(), [conf, '--sentinel']);
    await this.sentinel.waitLine((l) => l.includes('+monitor master'), 15_000, 'the Sentinel');
    await this.replica.waitLine(
      (l) => l.includes('MASTER <-> REPLICA sync: Finished'),
      15_000,
      'replication',
    );
  }

  /** The master's port as the Sentinel names it now; null when it names none. */
  async sentinelMasterPort(): Promise<number | null> {
    const r = await this.net.runner('ctl', 5000)('redis-cli', [
      '-h',
      this.ctlAddress,
      '-p',
      '26379',
      'SENTINEL',
      'get-master-addr-by-name',
      SENTINEL_MASTER,
    ]);
    const port = Number(r.stdout.trim().split('\n')[1]);
    return Number.isInteger(port) && port > 0 ? port : null;
  }

  /** Start `program` in `host`'s namespace. */
  proc(host: string, name: string, program: string, args: readonly string[], env = process.env): Proc {
    return new Proc(name, this.net.spawn(host, program, args, { stdio: ['ignore', 'pipe', 'pipe'], env }));
  }

  /**
   * Start (or restart) the speaker of node `n`; with the cluster's `inspect`, its inspector listens
   * on 127.0.0.1:9229 inside the node's namespace, for `blockEventLoop`.
   */
  startSpeaker(n: string): Proc {
    const env = this.opts.inspect ? { ...process.env, NODE_OPTIONS: `--inspect=${INSPECTOR}` } : process.env;
    const p = this.proc(
      n,
      `speaker ${n}`,
      process.execPath,
      [
        BIN,
        'speaker',
        ...this.storeFlags(),
        '--node-name',
        n,
        '--announce',
        'l2',
        '--interface',
        'eth0',
        '--workers',
        '0',
        '--metrics-address',
        `${this.net.host(n).address}:9470`,
        ...(this.opts.speakerArgs ?? []),
      ],
      env,
    );
    this.speakers.set(n, p);
    return p;
  }

  /**
   * Block the JavaScript event loop of `n`'s speaker (cluster started with `inspect`) for `ms`: a busy loop
   * evaluated through the inspector, as a hung handler would. Resolves once the loop has started,
   * with the wall-clock ms at which it began (the fixture's own start-up can take a while).
   */
  async blockEventLoop(n: string, ms: number): Promise<number> {
    const r = await this.net.runner(n, 10_000)(process.execPath, [BLOCK_LOOP, INSPECTOR, String(ms)]);
    if (r.code !== 0) throw new Error(`could not block ${n}'s event loop: ${r.stderr.trim()}`);
    return Number(r.stdout.trim());
  }

  /** Start (or restart) the backend of node `n`: on every NodePort it answers each connection with `n`. */
  async startBackend(n: string): Promise<Proc> {
    const ports = [...this.vips.map((_, i) => NODE_PORT + i), ...this.vips6.map((_, i) => NODE_PORT6 + i)];
    const p = this.proc(n, `backend ${n}`, process.execPath, [
      '-e',
      `const net=require('net');let up=0;for(const p of [${ports.join(',')}])net.createServer((s)=>{s.on('error',()=>{});s.end(process.argv[1]+'\\n')}).listen(p,'::',()=>{if(++up===${ports.length})console.log('up')})`,
      n,
    ]);
    this.backends.set(n, p);
    await p.waitLine((l) => l === 'up', 15_000, 'backend');
    return p;
  }

  /** Kill a process (SIGKILL by default) and wait for it to exit. */
  kill(p: Proc, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    return this.net.kill(p.child, signal);
  }

  /** Start a client loop: an attempt every `intervalMs`, bounded by `maxAttempts` and `maxMs`. */
  client(opts: {
    intervalMs: number;
    maxAttempts: number;
    maxMs: number;
    connectTimeoutMs?: number;
    vip?: string;
    /** Flush the client's neighbour cache before every attempt: each one a new client. */
    freshNeighbours?: boolean;
  }): ClientLoop {
    return new ClientLoop(
      this.proc('client', 'client', process.execPath, [
        CLIENT,
        opts.vip ?? VIP,
        String(PORT),
        String(opts.intervalMs),
        String(opts.connectTimeoutMs ?? 200),
        String(opts.maxMs),
        String(opts.maxAttempts),
        ...(opts.freshNeighbours ? ['eth0'] : []),
      ]),
    );
  }

  /** Nodes whose eth0 carries the VIP address now. */
  async vipHolders(): Promise<string[]> {
    return (await this.addressHolders()).get(VIP) ?? [];
  }

  /** Whether node `n`'s eth0 carries `vip` (the first Service's by default; IPv4 or IPv6). */
  async hasVip(n: string, vip = VIP): Promise<boolean> {
    const v6 = vip.includes(':');
    const r = await this.net.runner(n)('ip', [v6 ? '-6' : '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    return r.stdout.includes(` ${vip}/${v6 ? 128 : 32} `);
  }

  /** For each VIP of the cluster, the nodes whose eth0 carries it now (one `ip` per node). */
  async addressHolders(): Promise<Map<string, string[]>> {
    const out = new Map(this.vips.map((v) => [v, [] as string[]]));
    await Promise.all(
      NODES.map(async (n) => {
        const r = await this.net.runner(n)('ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0']);
        for (const v of this.vips) if (r.stdout.includes(` ${v}/32 `)) out.get(v)!.push(n);
      }),
    );
    return out;
  }

  /** One redis-cli command in the ctl namespace; its trimmed output. */
  async redisCli(...args: string[]): Promise<string> {
    const r = await this.net.runner('ctl', 5000)('redis-cli', [
      '-h',
      this.ctlAddress,
      '-p',
      String(this.redisPort),
      ...args,
    ]);
    return r.stdout.trim();
  }

  /** The node holding `vip`'s lease in Redis ('' when none); the first Service's VIP by default. */
  leaseHolder(vip = VIP): Promise<string> {
    return this.redisCli('HGET', `${KEY_PREFIX}lease:{${vip}}`, 'node');
  }

  /** Delete `vip`'s lease key in Redis, as an operator or an eviction might. */
  async deleteLeaseKey(vip: string): Promise<void> {
    await this.redisCli('DEL', `${KEY_PREFIX}lease:{${vip}}`);
  }

  /** The table version in Redis. */
  async tableVersion(): Promise<number> {
    return Number(await this.redisCli('GET', `${KEY_PREFIX}table:version`));
  }

  /** A speaker's `switchyard_table_version`, scraped from the client namespace; NaN when unreachable. */
  async servedVersion(n: string): Promise<number> {
    const r = await this.net.runner('client', 5000)('curl', [
      '-s',
      '-m',
      '2',
      `http://${this.net.host(n).address}:9470/metrics`,
    ]);
    const m = /^switchyard_table_version (\d+)$/m.exec(r.stdout);
    return m ? Number(m[1]) : Number.NaN;
  }

  /** The MAC address of `host`'s eth0. */
  async mac(host: string): Promise<string> {
    return (await this.net.runner(host)('cat', ['/sys/class/net/eth0/address'])).stdout.trim();
  }

  /** Forget every neighbour the client has learnt, as a client that never spoke to the VIP. */
  async flushClientNeighbours(): Promise<void> {
    await this.net.runner('client')('ip', ['neigh', 'flush', 'dev', 'eth0']);
  }

  /** The MACs that answer a neighbour solicitation for an IPv6 `vip` from the client (`ndisc6 -m`). */
  async ndpFromClient(vip: string): Promise<string[]> {
    const r = await this.net.runner('client')('ndisc6', [
      '-m',
      '-n',
      '-q',
      '-r',
      '1',
      '-w',
      '500',
      vip,
      'eth0',
    ]);
    return [
      ...new Set(
        r.stdout
          .split('\n')
          .map((l) => l.trim().toLowerCase())
          .filter((l) => /^[0-9a-f:]{17}$/.test(l)),
      ),
    ];
  }

  /** ARP for the VIP from the client: `arping -d` (exit 1 when two MACs answer) and the MACs seen. */
  async arpFromClient(vip = VIP): Promise<{ code: number; macs: string[] }> {
    // Two answers to one broadcast come within a millisecond; 0.5 s is plenty and keeps polls short.
    const r = await this.net.runner('client')('arping', ['-d', '-c', '2', '-w', '0.5', '-i', 'eth0', vip]);
    const macs = [...new Set([...r.stdout.matchAll(/bytes from ([0-9a-f:]{17})/g)].map((m) => m[1]!))];
    return { code: r.code, macs };
  }

  /**
   * Poll until exactly `owner` carries the VIP, holds its lease, and a client connection through the
   * VIP succeeds; resolves with the ms it took. Bounded by `timeoutMs`.
   */
  async converged(owner: string, timeoutMs: number): Promise<number> {
    const start = performance.now();
    let last = '';
    while (performance.now() - start < timeoutMs) {
      const holders = await this.vipHolders();
      const lease = await this.leaseHolder();
      last = `holders [${holders.join(',')}], lease ${lease || '(none)'}`;
      if (holders.length === 1 && holders[0] === owner && lease === owner) {
        const probe = this.client({ intervalMs: 0, maxAttempts: 1, maxMs: 3000, connectTimeoutMs: 500 });
        const [a] = await probe.done(5000);
        if (a?.ok) return performance.now() - start;
        last += `, client ${a?.err ?? 'no attempt'}`;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`not converged on ${owner} within ${timeoutMs} ms: ${last}`);
  }

  /** Kill everything and delete the namespaces and the temporary directory. */
  async destroy(): Promise<void> {
    // A stopped Redis still dies of SIGKILL; nothing else needs waking.
    await this.net.destroy();
    await rm(this.dir, { recursive: true, force: true });
  }
}

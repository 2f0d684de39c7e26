/**
 * A small cluster built from Linux network namespaces: every host gets its own namespace with an
 * `eth0` joined to a bridge that lives in a namespace of its own. Addresses come from 198.18.0.0/24
 * (the benchmarking range) and there is no route out, so nothing a test sends can leave the machine.
 * On request every host also gets an `eth1` on a second bridge (198.19.0.0/24, the other half of the
 * benchmarking range): a management network, so a test can cut one link and keep the other.
 * Needs root (CI runs as root). Everything is torn down by `destroy()`, and namespaces left by a
 * crashed earlier run (their PID is gone) are removed on the next `create()`.
 */
import { type ChildProcess, execFile, type SpawnOptions, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  type CommandRunner,
  execRunner,
  type LineChildStarter,
  spawnLineChild,
} from '../../speaker/announce/command-runner.ts';

const PREFIX = 'sye2e';

function run(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: 10_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ip ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One host of the namespace cluster. */
export interface NetnsHost {
  readonly name: string;
  /** The namespace name (`ip netns exec <ns> ...`). */
  readonly ns: string;
  /** Its address on the shared segment. */
  readonly address: string;
  /** Its address on the management segment (`eth1`), when the cluster has one. */
  readonly mgmtAddress: string | null;
  /** Its IPv6 address on the shared segment, when the cluster has IPv6. */
  readonly address6: string | null;
  readonly index: number;
}

/** A set of namespaces on one L2 segment. */
export class NetnsCluster {
  readonly hosts: ReadonlyMap<string, NetnsHost>;
  private readonly bridgeNs: string;
  private readonly children = new Set<ChildProcess>();

  private constructor(bridgeNs: string, hosts: Map<string, NetnsHost>) {
    this.bridgeNs = bridgeNs;
    this.hosts = hosts;
  }

  /**
   * Build the cluster: hosts get 198.18.0.(10+i)/24 in the order given; with `ipv6` also
   * 2001:2::(10+i)/64 on `eth0` (the IPv6 benchmarking range); with `mgmt` also 198.19.0.(10+i)/24
   * on `eth1`.
   */
  static async create(
    hostNames: readonly string[],
    opts: { mgmt?: boolean; ipv6?: boolean } = {},
  ): Promise<NetnsCluster> {
    if (process.getuid?.() !== 0) throw new Error('the namespace cluster needs root (ip netns add)');
    await removeStaleNamespaces();
    const tag = `${PREFIX}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
    const bridgeNs = `${tag}-br`;
    const hosts = new Map<string, NetnsHost>();
    const cluster = new NetnsCluster(bridgeNs, hosts);
    try {
      await run(['netns', 'add', bridgeNs]);
      const bridges = opts.mgmt ? ['br0', 'br1'] : ['br0'];
      for (const br of bridges) {
        await run(['-n', bridgeNs, 'link', 'add', br, 'type', 'bridge']);
        await run(['-n', bridgeNs, 'link', 'set', br, 'up']);
      }
      for (const [i, name] of hostNames.entries()) {
        const host: NetnsHost = {
          name,
          ns: `${tag}-${name}`,
          address: `198.18.0.${10 + i}`,
          mgmtAddress: opts.mgmt ? `198.19.0.${10 + i}` : null,
          address6: opts.ipv6 ? `2001:2::${10 + i}` : null,
          index: i,
        };
        hosts.set(name, host);
        await run(['netns', 'add', host.ns]);
        await run(['-n', host.ns, 'link', 'set', 'lo', 'up']);
        await plug(host.ns, 'eth0', bridgeNs, `p${i}`, 'br0', [`${host.address}/24`]);
        if (host.address6 !== null) {
          await run(['-n', host.ns, 'addr', 'add', `${host.address6}/64`, 'dev', 'eth0', 'nodad']);
        }
        if (host.mgmtAddress !== null) {
          await plug(host.ns, 'eth1', bridgeNs, `m${i}`, 'br1', [`${host.mgmtAddress}/24`]);
        }
      }
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    return cluster;
  }

  /** The host called `name`. */
  host(name: string): NetnsHost {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no host ${name} in the namespace cluster`);
    return h;
  }

  /** A command runner whose commands run inside `name`'s namespace. */
  runner(name: string, timeoutMs = 10_000): CommandRunner {
    return execRunner(timeoutMs, ['ip', 'netns', 'exec', this.host(name).ns]);
  }

  /** Starts line children (`ip -batch`) inside `name`'s namespace. */
  lineChildren(name: string): LineChildStarter {
    return spawnLineChild(['ip', 'netns', 'exec', this.host(name).ns]);
  }

  /**
   * Start a long-running process inside `name`'s namespace. `ip netns exec` execs the program, so
   * the child's PID is the program's; `destroy()` kills whatever is still running.
   */
  spawn(name: string, program: string, args: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.host(name).ns, program, ...args], {
      stdio: 'pipe',
      ...opts,
    });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Kill a process started by `spawn` and wait for it to exit. */
  async kill(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  }

  /** Kill every process still running and delete every namespace. */
  async destroy(): Promise<void> {
    await Promise.all([...this.children].map((c) => this.kill(c)));
    for (const h of this.hosts.values()) await run(['netns', 'del', h.ns]).catch(() => {});
    await run(['netns', 'del', this.bridgeNs]).catch(() => {});
  }
}

/**
 * Give namespace `ns` an interface `ifname` with `addresses`, its veth peer `peer` enslaved to
 * `bridge` in `bridgeNs`, both ends up.
 */
async function plug(
  ns: string,
  ifname: string,
  bridgeNs: string,
  peer: string,
  bridge: string,
  addresses: readonly string[],
): Promise<void> {
  await run(['link', 'add', ifname, 'netns', ns, 'type', 'veth', 'peer', 'name', peer, 'netns', bridgeNs]);
  await run(['-n', bridgeNs, 'link', 'set', peer, 'master', bridge]);
  await run(['-n', bridgeNs, 'link', 'set', peer, 'up']);
  for (const a of addresses) await run(['-n', ns, 'addr', 'add', a, 'dev', ifname]);
  await run(['-n', ns, 'link', 'set', ifname, 'up']);
}

/** Delete namespaces of earlier runs whose process is gone (names carry the creating PID). */
async function removeStaleNamespaces(): Promise<void> {
  const list = await run(['netns', 'list']);
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = new RegExp(`^${PREFIX}-(\\d+)-`).exec(name);
    if (m && !alive(Number(m[1]))) await run(['netns', 'del', name]).catch(() => {});
  }
}

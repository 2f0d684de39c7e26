/**
 * Descriptor exhaustion: the real speaker runs under a small RLIMIT_NOFILE and more clients arrive
 * than it has descriptors for.
 *
 * With the default `--max-connections auto` the speaker caps clients below its descriptor limit:
 * the excess is refused as `speaker-limit`, descriptors never run out, and /metrics answers during
 * the flood.
 *
 * With `--max-connections 0` (no cap) it does run out. It must not crash, must not spin on accept
 * (its CPU stays low while exhausted), must not blame healthy backends for its own EMFILE (they stay
 * healthy and no client is turned away as `no-backend`), and must serve new clients within a second
 * of descriptors freeing.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { within } from '../speaker/loopback.ts';
import { eventually } from '../store/await-events.ts';
import { type BackedSpeaker, startBackedSpeaker } from './backed-speaker.ts';
import { clientSources, closeAll } from './load.ts';
import { cpuShare } from './proc-stats.ts';
import { report, scaled } from './scale.ts';
import { metricValue, type SpeakerProcess } from './speaker-process.ts';

const NOFILE = 256;
const CLIENTS = 400;
/** How long the exhaustion is held while the speaker's CPU is measured. */
const HOLD_MS = scaled(2000, 10_000);
/** The most CPU (share of one core) the speaker may use while exhausted and idle otherwise. */
const MAX_CPU = 0.2;

/** How a client attempt ended. */
type Outcome = 'served' | 'reset' | 'closed' | 'timeout';

/** Connect, send one byte, and report whether the echo came back. The socket stays open if served. */
function attempt(
  host: string,
  port: number,
  localAddress: string,
  timeoutMs: number,
): Promise<[Outcome, Socket]> {
  return new Promise((resolve) => {
    const s = connect({ host, port, localAddress });
    let done = false;
    const finish = (o: Outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (o !== 'served') s.destroy();
      resolve([o, s]);
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    s.on('connect', () => s.write('x'));
    s.once('data', () => finish('served'));
    s.on('error', (e: NodeJS.ErrnoException) => finish(e.code === 'ECONNRESET' ? 'reset' : 'closed'));
    s.on('close', () => finish('closed'));
  });
}

/**
 * An echo backend and a one-listener speaker in front of it under `ulimit -n NOFILE`, with TCP health
 * checks every `healthInterval`. The no-cap case probes often, so that many probes meet the
 * exhaustion: each must be counted as the speaker's own shortage, never as the backend's failure.
 */
function startRig(maxConnections: number | undefined, healthInterval = '2s'): Promise<BackedSpeaker> {
  const server = createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  return startBackedSpeaker({
    service: 'emfile/web',
    server,
    backlog: 1024,
    listener: { healthCheck: { type: 'tcp', interval: healthInterval, timeout: '1s' } },
    speaker: { nofile: NOFILE, ...(maxConnections !== undefined ? { maxConnections } : {}) },
  });
}

/** Open `CLIENTS` clients at once and count how each attempt ended; the served ones stay open. */
async function flood(vip: string, port: number, sources: readonly string[]) {
  const outcomes = new Map<Outcome, number>();
  const served: Socket[] = [];
  const results = await within(
    30_000,
    'every client attempt to end',
    Promise.all(
      Array.from({ length: CLIENTS }, (_, i) => attempt(vip, port, sources[i % sources.length]!, 5000)),
    ),
  );
  for (const [o, s] of results) {
    outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
    if (o === 'served') served.push(s);
  }
  return { outcomes, served };
}

/**
 * Take the descriptors a flood left `speaker`. A served client costs it two (client and backend), so
 * the flood can end with one free, depending on how many the speaker held before; each health probe
 * would then get it and succeed, and the test would show nothing about probes that cannot start. A
 * connection to the speaker's metrics server that sends nothing costs it one, and is held there:
 * Node's HTTP server waits a minute for request headers. Bounded: gives up after 20 tries.
 */
async function takeFreeDescriptors(speaker: SpeakerProcess): Promise<Socket[]> {
  const { hostname, port } = new URL(speaker.metricsUrl);
  const taken: Socket[] = [];
  for (let i = 0; i < 20 && (await speaker.fewestFds()) < NOFILE; i++) {
    const s = connect({ host: hostname, port: Number(port) });
    s.on('error', () => {});
    taken.push(s);
    // Time for the speaker to accept it, or to turn it away if a probe held the last descriptor.
    await sleep(50);
  }
  return taken;
}

describe('a client flood against the default descriptor budget (--max-connections auto)', {
  timeout: 120_000,
}, () => {
  let rig: BackedSpeaker;
  let held: Socket[] = [];

  before(async () => {
    rig = await startRig(undefined);
  });

  after(async () => {
    await closeAll(held);
    await rig?.close();
  });

  it(`under ulimit -n ${NOFILE} with ${CLIENTS} clients: the excess is refused at the cap, descriptors stay free, /metrics answers`, {
    timeout: 60_000,
  }, async () => {
    const { speaker, vip, port } = rig;
    const started = speaker.lines.find((l) => l['event'] === 'speaker-started') ?? {};
    const cap = started['maxConnections'];
    assert.equal(started['maxConnectionsFrom'], 'descriptors');
    assert.equal(started['descriptorLimit'], NOFILE);
    assert.ok(typeof cap === 'number' && cap > 0 && cap * 2 < NOFILE, `cap ${String(cap)}`);

    const { outcomes, served } = await flood(vip, port, clientSources(4));
    held = served;
    const flooded = speaker.sample();
    // While every admitted client is held, the speaker still has descriptors for its own work.
    const during = await speaker.metrics();
    report('fd-budget', {
      nofile: NOFILE,
      clients: CLIENTS,
      cap,
      served: outcomes.get('served') ?? 0,
      reset: outcomes.get('reset') ?? 0,
      closed: outcomes.get('closed') ?? 0,
      timeout: outcomes.get('timeout') ?? 0,
      fdsFlooded: flooded.fds,
      speakerLimit: metricValue(during, 'switchyard_listener_rejected_total', { reason: 'speaker-limit' }),
      localResources: metricValue(during, 'switchyard_listener_rejected_total', {
        reason: 'local-resources',
      }),
    });
    assert.equal(outcomes.get('served'), cap, 'exactly the cap was admitted');
    assert.equal(outcomes.get('timeout') ?? 0, 0, 'clients over the cap are turned away, not left hanging');
    assert.ok(flooded.fds < NOFILE - 64, `the speaker kept descriptors in reserve (${flooded.fds} open)`);
    assert.equal(
      metricValue(during, 'switchyard_listener_rejected_total', { reason: 'speaker-limit' }),
      CLIENTS - cap,
    );
    assert.equal(metricValue(during, 'switchyard_listener_rejected_total', { reason: 'local-resources' }), 0);
    assert.equal(metricValue(during, 'switchyard_speaker_connections_max'), cap);
    assert.equal(metricValue(during, 'switchyard_speaker_connections_active'), cap);
    assert.equal(metricValue(during, 'switchyard_listener_rejected_total', { reason: 'no-backend' }), 0);
    assert.equal(speaker.lines.filter((l) => l['event'] === 'accept-failed').length, 0);
    await closeAll(held);
    held = [];
  });
});

describe('file-descriptor exhaustion of the real speaker (--max-connections 0)', { timeout: 120_000 }, () => {
  let rig: BackedSpeaker;
  let held: Socket[] = [];

  before(async () => {
    rig = await startRig(0, '100ms');
  });

  after(async () => {
    await closeAll(held);
    await rig?.close();
  });

  it(`under ulimit -n ${NOFILE} with ${CLIENTS} clients: no crash, no accept spin, backends not blamed, recovery within 1 s`, {
    timeout: 60_000,
  }, async () => {
    const { speaker, vip, port } = rig;
    const sources = clientSources(4);
    // A backend proven healthy before the flood, so "still healthy" after it means something.
    await eventually(
      async () =>
        metricValue(await speaker.metrics(), 'switchyard_backend_health_state', { state: 'healthy' }) === 1,
      10_000,
      'the backend to be probed healthy',
    );
    const baseline = speaker.sample();
    const { outcomes, served } = await flood(vip, port, sources);
    held = [...served, ...(await takeFreeDescriptors(speaker))];
    assert.equal(await speaker.fewestFds(), NOFILE, 'every descriptor of the speaker is taken');
    const exhausted = speaker.sample();
    // Clients keep knocking while the speaker is exhausted: each one must be turned away cheaply.
    const knocks: Promise<[Outcome, Socket]>[] = [];
    const knocking = setInterval(() => {
      for (let i = 0; i < 10; i++) knocks.push(attempt(vip, port, sources[i % sources.length]!, 2000));
    }, 100);
    await sleep(HOLD_MS);
    clearInterval(knocking);
    const heldSample = speaker.sample();
    const cpu = cpuShare(exhausted, heldSample);
    const knocked = await within(10_000, 'the knocks to end', Promise.all(knocks));
    const knockServed = knocked.filter(([o]) => o === 'served');
    held.push(...knockServed.map(([, s]) => s));
    // /metrics is not read here: with every descriptor taken, the speaker's metrics server is refused
    // like any other client. The counters below are cumulative, so reading them after recovery is
    // the same figure.

    // Free the descriptors and time the first served client.
    await closeAll(held);
    held = [];
    const freed = performance.now();
    let recoveredMs = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 100; i++) {
      const [o, s] = await attempt(vip, port, sources[0]!, 1000);
      if (o === 'served') {
        recoveredMs = performance.now() - freed;
        s.destroy();
        break;
      }
      await sleep(20);
    }
    const afterText = await speaker.metrics();
    report('fd-exhaustion', {
      nofile: NOFILE,
      clients: CLIENTS,
      served: outcomes.get('served') ?? 0,
      reset: outcomes.get('reset') ?? 0,
      closed: outcomes.get('closed') ?? 0,
      timeout: outcomes.get('timeout') ?? 0,
      fdsBaseline: baseline.fds,
      fdsExhausted: exhausted.fds,
      knocks: knocked.length,
      cpuWhileExhausted: cpu.toFixed(3),
      recoveredMs: Math.round(recoveredMs),
      noBackend: metricValue(afterText, 'switchyard_listener_rejected_total', { reason: 'no-backend' }),
      localResources: metricValue(afterText, 'switchyard_listener_rejected_total', {
        reason: 'local-resources',
      }),
      localProbes: metricValue(afterText, 'switchyard_health_checks_total', { result: 'local' }),
      acceptFailedLogs: speaker.lines.filter((l) => l['event'] === 'accept-failed').length,
      logLines: speaker.lines.length,
    });
    assert.equal(speaker.child.exitCode, null, `the speaker exited: ${speaker.stderr()}`);
    assert.ok((outcomes.get('served') ?? 0) > 0, 'some clients were served');
    assert.ok((outcomes.get('served') ?? 0) < CLIENTS, 'the limit was really reached');
    assert.equal(outcomes.get('timeout') ?? 0, 0, 'clients over the limit are turned away, not left hanging');
    assert.ok(cpu < MAX_CPU, `the speaker used ${cpu.toFixed(3)} of a core while exhausted`);
    assert.equal(
      metricValue(afterText, 'switchyard_listener_rejected_total', { reason: 'no-backend' }),
      0,
      'no client turned away as if the backend were down',
    );
    assert.ok(
      metricValue(afterText, 'switchyard_health_checks_total', { result: 'local' }) > 0,
      'health probes met the exhaustion',
    );
    assert.equal(
      metricValue(afterText, 'switchyard_backend_health_state', { state: 'healthy' }),
      1,
      'the backend stayed healthy through probes that could not start',
    );
    assert.ok(recoveredMs < 1000, `recovered after ${recoveredMs} ms`);
    // Hundreds of clients turned away, but the log says so per episode, not per client.
    assert.ok(speaker.lines.length < 30, `${speaker.lines.length} log lines`);
  });
});

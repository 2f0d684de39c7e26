/**
 * `--data-plane auto`: the handle implementation's self-test relays bytes through every Node.js
 * internal it uses, and when one is missing or behaves differently the speaker forwards with
 * net.Socket instead, with a warning and `switchyard_data_plane_info`. Each case below removes or
 * breaks one internal in a copy of the real ones (the process's own are never touched).
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:net';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { chooseRelayIo } from '../../speaker/forward/io/choose.ts';
import { loadNodeInternals, type NodeInternals } from '../../speaker/forward/io/handles.ts';
import { SpeakerMetrics } from '../../speaker/metrics.ts';
import { captureLogs, WARN } from '../kube/log-capture.ts';

const real = loadNodeInternals();

/** `base` with `key` replaced by `value` (undefined: removed); the rest read through. */
function altered(base: unknown, key: string, value: unknown): unknown {
  return Object.create(base as object, { [key]: { value, enumerable: true } });
}

/** A TCP constructor whose prototype lacks `method`. */
function tcpWithout(method: string): unknown {
  const { TCP } = real.tcpWrap as { TCP: { prototype: object } };
  const Stub = function Stub() {} as unknown as { prototype: object };
  Stub.prototype = altered(TCP.prototype, method, undefined) as object;
  return Stub;
}

const streamWrap = real.streamWrap as { kReadBytesOrError: number };

/** One internal taken away or broken, and what the failure must name. */
const CASES: { name: string; internals: NodeInternals; names: RegExp }[] = [
  {
    name: 'kLastWriteWasAsync missing',
    internals: { ...real, streamWrap: altered(real.streamWrap, 'kLastWriteWasAsync', undefined) },
    names: /kLastWriteWasAsync/,
  },
  {
    // Present, but the wrong slot: every write would look queued (or none), and connections stall.
    name: 'kLastWriteWasAsync pointing at another slot',
    internals: {
      ...real,
      streamWrap: altered(real.streamWrap, 'kLastWriteWasAsync', streamWrap.kReadBytesOrError),
    },
    names: /queued|kLastWriteWasAsync|no result/,
  },
  {
    name: 'kReadBytesOrError missing',
    internals: { ...real, streamWrap: altered(real.streamWrap, 'kReadBytesOrError', undefined) },
    names: /kReadBytesOrError/,
  },
  {
    name: 'TCPConnectWrap missing',
    internals: { ...real, tcpWrap: altered(real.tcpWrap, 'TCPConnectWrap', undefined) },
    names: /TCPConnectWrap/,
  },
  {
    name: 'ShutdownWrap missing',
    internals: { ...real, streamWrap: altered(real.streamWrap, 'ShutdownWrap', undefined) },
    names: /ShutdownWrap/,
  },
  {
    name: 'WriteWrap missing',
    internals: { ...real, streamWrap: altered(real.streamWrap, 'WriteWrap', undefined) },
    names: /WriteWrap/,
  },
  {
    name: 'constants.SOCKET missing',
    internals: { ...real, tcpWrap: altered(real.tcpWrap, 'constants', {}) },
    names: /constants\.SOCKET/,
  },
  {
    name: 'TCP without useUserBuffer',
    internals: { ...real, tcpWrap: altered(real.tcpWrap, 'TCP', tcpWithout('useUserBuffer')) },
    names: /useUserBuffer/,
  },
  {
    name: 'the buffer copy missing',
    internals: { ...real, buffer: altered(real.buffer, 'copy', undefined) },
    names: /buffer\.copy/,
  },
  {
    // Present, but copies nothing: the bytes a read relays are not the bytes that arrived.
    name: 'the buffer copy copying nothing',
    internals: { ...real, buffer: altered(real.buffer, 'copy', () => 0) },
    names: /did not land|bad-byte/,
  },
  {
    name: 'no listening handle under net.Server',
    internals: { ...real, listeningHandle: () => null },
    names: /listening handle/,
  },
  {
    // A handle whose onconnection can be set but is not what accepts: net.Server makes net.Sockets.
    name: 'onconnection that does not take accepts over',
    internals: {
      ...real,
      listeningHandle: (_server: Server) => ({ onconnection: () => {}, setNoDelay: () => 0 }),
    },
    names: /onconnection/,
  },
];

describe('--data-plane auto falls back to net.Socket when the handle self-test fails', () => {
  for (const c of CASES) {
    it(`falls back to sockets with a warning naming the cause: ${c.name}`, { timeout: 15_000 }, async () => {
      const { logger, lines } = captureLogs();
      const choice = await chooseRelayIo('auto', { logger, internals: c.internals });
      assert.equal(choice.implementation, 'sockets');
      assert.equal(choice.io.implementation, 'sockets');
      assert.equal(choice.reason, 'self-test-failed');
      const warning = lines.events.find((l) => l.event === 'data-plane-fallback');
      assert.ok(warning, 'a data-plane-fallback line');
      assert.equal(warning.level, WARN);
      assert.match(String((warning['err'] as { message?: string }).message), c.names);
    });
  }

  it('refuses to start with --data-plane handles when the self-test fails', { timeout: 15_000 }, async () => {
    const { logger } = captureLogs();
    await assert.rejects(
      chooseRelayIo('handles', { logger, internals: CASES[0]!.internals }),
      /kLastWriteWasAsync/,
    );
  });

  it('after those failures, still passes with the real internals and picks handles', {
    timeout: 15_000,
  }, async () => {
    const { logger, lines } = captureLogs();
    const choice = await chooseRelayIo('auto', { logger });
    assert.equal(choice.implementation, 'handles');
    assert.equal(choice.reason, 'self-test-passed');
    assert.equal(lines.events.filter((l) => l.level >= WARN).length, 0);
  });

  it('never loads the handle implementation with --data-plane sockets', async () => {
    const choice = await chooseRelayIo('sockets', {
      logger: captureLogs().logger,
      internals: CASES[0]!.internals,
    });
    assert.deepEqual([choice.implementation, choice.reason], ['sockets', 'flag']);
  });

  it('exports the choice as switchyard_data_plane_info{implementation,reason} 1', async () => {
    const { logger } = captureLogs();
    const choice = await chooseRelayIo('auto', { logger, internals: CASES[0]!.internals });
    const registry = new Registry();
    const metrics = new SpeakerMetrics(registry, {
      stats: () => Promise.resolve([]),
      health: () => new Map(),
      connections: () => ({ active: 0, max: 0 }),
    });
    metrics.dataPlaneChosen(choice.implementation, choice.reason);
    const text = await registry.metrics();
    assert.match(
      text,
      /^switchyard_data_plane_info\{implementation="sockets",reason="self-test-failed"\} 1$/m,
    );
  });
});

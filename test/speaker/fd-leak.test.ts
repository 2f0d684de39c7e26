import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { listenerKey } from '../../shared/model.ts';
import { type ForwarderFixture, startForwarder } from './forwarder-fixture.ts';
import {
  type Backend,
  freePort,
  listenerDoc,
  loopbackAddress,
  onlyListener,
  startBackend,
  table,
  within,
} from './loopback.ts';

/** The ways a proxied connection can end, chosen by the first byte the client sends. */
const MODES = [
  'client-fin',
  'backend-fin',
  'client-reset',
  'backend-reset',
  'client-destroy-mid-stream',
  'backend-destroy',
  'client-gone-at-once',
] as const;
type Mode = (typeof MODES)[number];

/** Open descriptors of this process, each with what it points at (for a readable failure). */
function openFds(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      out.push(`${fd} -> ${readlinkSync(`/proc/self/fd/${fd}`)}`);
    } catch {
      // The descriptor readdir itself used is already gone.
    }
  }
  return out;
}

/** What the backend does once it knows the mode. */
function backendSide(s: Socket): void {
  // Like any server: when the client is done, so is the backend.
  s.on('end', () => {
    if (!s.writableEnded) s.end();
  });
  s.once('data', (d: Buffer) => {
    const mode = MODES[d[0]!]!;
    switch (mode) {
      case 'client-fin':
        s.write('ok');
        s.resume();
        break;
      case 'backend-fin':
        s.end('bye');
        s.resume();
        break;
      case 'client-reset':
        s.write('x');
        s.resume();
        break;
      case 'backend-reset':
        s.resetAndDestroy();
        break;
      case 'client-destroy-mid-stream':
        for (let i = 0; i < 8; i++) s.write(Buffer.alloc(64 * 1024, i));
        s.resume();
        break;
      case 'backend-destroy':
        s.destroy();
        break;
      case 'client-gone-at-once':
        break;
    }
  });
}

/** Run one client in `mode`; resolves when its socket is closed. */
function clientSide(host: string, port: number, mode: Mode): Promise<void> {
  const s = connect({ host, port, allowHalfOpen: true });
  s.on('error', () => {});
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
  s.once('connect', () => {
    if (mode === 'client-gone-at-once') {
      s.destroy();
      return;
    }
    s.write(Buffer.from([MODES.indexOf(mode)]));
    if (mode === 'client-fin') s.end('request');
    if (mode === 'client-reset') s.once('data', () => s.resetAndDestroy());
    if (mode === 'client-destroy-mid-stream') s.once('data', () => s.destroy());
    s.on('end', () => s.end());
    s.resume();
  });
  return closed;
}

describe('file descriptors', () => {
  let backend: Backend;
  let fx: ForwarderFixture;
  let vip: string;
  let port: number;
  let key: string;

  before(async () => {
    backend = await startBackend({ onSocket: backendSide });
    vip = loopbackAddress();
    const t = table([
      listenerDoc({
        vip,
        port: await freePort(vip),
        backends: [{ address: backend.address, nodePort: backend.port }],
      }),
    ]);
    port = onlyListener(t).port;
    key = listenerKey(onlyListener(t));
    fx = await startForwarder(t);
  });
  after(async () => {
    await fx.close();
    await backend.close();
  });

  it('leaves no descriptor open after 1,000 connections closed in random orders', {
    timeout: 60_000,
  }, async () => {
    // Warm up every mode once so that descriptors Node opens lazily are in the baseline.
    for (const mode of MODES) await clientSide(vip, port, mode);
    await waitIdle();
    const baseline = openFds();
    let seed = 12345;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const counts = new Map<Mode, number>();
    const total = 1000;
    const concurrency = 50;
    let started = 0;
    const worker = async () => {
      while (started < total) {
        started++;
        const mode = MODES[Math.floor(random() * MODES.length)]!;
        counts.set(mode, (counts.get(mode) ?? 0) + 1);
        await within(10_000, `a ${mode} connection to close`, clientSide(vip, port, mode));
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    for (const m of MODES) assert.ok((counts.get(m) ?? 0) > 50, `mode ${m} ran ${counts.get(m)} times`);
    await waitIdle();
    assert.equal(fx.runtime(key).size, 0);
    assert.equal(fx.stats(key).active, 0);
    // A closed descriptor is released when its close callback has run; give those a moment (bounded).
    let now = openFds();
    for (let i = 0; i < 100 && now.some((f) => !baseline.includes(f)); i++) {
      await new Promise((r) => setTimeout(r, 20));
      now = openFds();
    }
    assert.deepEqual(
      now.filter((f) => !baseline.includes(f)),
      [],
      `descriptors opened and not closed (baseline ${baseline.length}, now ${now.length})`,
    );
    // Fewer is fine (a descriptor of the set-up, open at the baseline, may have closed since); more is a leak.
    assert.ok(
      now.length <= baseline.length,
      `${now.length} descriptors open, ${baseline.length} at the baseline`,
    );
  });

  /** Until the proxy holds no connection and the backend none either (bounded). */
  async function waitIdle(): Promise<void> {
    await within(
      10_000,
      'every connection to close',
      (async () => {
        for (;;) {
          const backendOpen = await new Promise<number>((resolve) =>
            backend.server.getConnections((_, n) => resolve(n)),
          );
          if (fx.runtime(key).size === 0 && backendOpen === 0) return;
          await new Promise((r) => setTimeout(r, 20));
        }
      })(),
    );
  }
});

/**
 * The data-plane test files again, against the `net.Socket` implementation of the relay's I/O
 * (speaker/forward/io/sockets.ts); run on their own, the same files test the handle implementation.
 * `SWITCHYARD_DATA_PLANE` is read by forwarder-fixture.ts (in-process forwarders and the tests that
 * start a Speaker) and, as the `--data-plane` flag's twin, by every speaker process a test spawns.
 * The files run one after another in this process (node --test gives each file its own process, so
 * the variable stays here). A new data-plane test file belongs in this list.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';

process.env.SWITCHYARD_DATA_PLANE = 'sockets';

const { relayIoUnderTest } = await import('./forwarder-fixture.ts');

it('runs the data-plane tests below on net.Socket', async () => {
  assert.equal((await relayIoUnderTest()).implementation, 'sockets');
});

for (const file of [
  './forwarding.test.ts',
  './limits.test.ts',
  './connect-failures.test.ts',
  './proxy-protocol.test.ts',
  './read-buffers.test.ts',
  './fd-leak.test.ts',
  './connection-cap.test.ts',
  './workers.test.ts',
  './table-reload.test.ts',
  './speaker-cli.test.ts',
]) {
  await import(file);
}

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ProcessSet } from '../../bench/processes.ts';

const repoRoot = join(import.meta.dirname, '..', '..');
const procs = new ProcessSet();
let backend: Server;
let front = { host: '', port: 0 };
const accepted: Socket[] = [];

before(async () => {
  // Echo server that upper-cases, so the test can tell the backend answered.
  backend = createServer((s) => {
    accepted.push(s);
    s.on('data', (d) => s.write(d.toString().toUpperCase()));
    s.on('end', () => s.end());
  });
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  const addr = backend.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const proxy = procs.spawn(
    'naive proxy',
    [
      process.execPath,
      '--import',
      'tsx',
      join(repoRoot, 'bench', 'naive-proxy.ts'),
      '--listen',
      '127.0.0.1:0',
      '--target',
      `127.0.0.1:${port}`,
    ],
    { cwd: repoRoot },
  );
  const m = await proxy.waitForLine(/^listening (\S+):(\d+)$/, 30_000);
  front = { host: m[1]!, port: Number(m[2]) };
});

after(async () => {
  await procs.stopAll();
  for (const s of accepted) s.destroy();
  backend.close();
});

describe('naive proxy', () => {
  it('relays bytes to the backend and the answer back', async () => {
    const c = connect(front.port, front.host);
    c.setEncoding('utf8');
    c.write('hello');
    const [reply] = (await once(c, 'data')) as [string];
    assert.equal(reply, 'HELLO');
    c.destroy();
  });

  it('closes the backend connection when the client goes away', async () => {
    const before = accepted.length;
    const c = connect(front.port, front.host);
    c.write('x');
    await once(c, 'data');
    const upstream = accepted[before];
    assert.ok(upstream, 'the proxy opened one backend connection for the client');
    const closed = once(upstream, 'close');
    c.destroy();
    await closed;
  });
});

import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { PoolStatus, ServiceOutcome } from '../../controller/allocate/reconcile-allocations.ts';
import {
  ControllerLoop,
  type OutcomeWriter,
  type TablePublisher,
} from '../../controller/loop/controller-loop.ts';
import { ManifestSource } from '../../controller/sources/manifest/source.ts';
import { silentLogger } from '../../shared/log.ts';
import type { ForwardingTable } from '../../shared/model.ts';
import { eventually } from '../harness/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'sy-loop-'));
after(() => rmSync(dir, { recursive: true, force: true }));

class RecordingWriter implements OutcomeWriter {
  services: ServiceOutcome[] = [];
  events: ServiceOutcome[] = [];
  pools: PoolStatus[] = [];
  failNext = 0;
  async writeService(o: ServiceOutcome): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('API server unavailable');
    }
    this.services.push(o);
  }
  async recordEvents(o: ServiceOutcome): Promise<void> {
    this.events.push(o);
  }
  async writePoolStatus(s: PoolStatus): Promise<void> {
    this.pools.push(s);
  }
}

class RecordingPublisher implements TablePublisher {
  tables: ForwardingTable[] = [];
  async publish(t: ForwardingTable): Promise<void> {
    this.tables.push(t);
  }
}

const EXTRA = `---
apiVersion: v1
kind: Service
metadata: {name: extra, namespace: demo}
spec: {type: LoadBalancer, ports: [{port: 81, nodePort: 30081}]}
`;

describe('ControllerLoop over a manifest file', () => {
  it('publishes once, writes each Service once, follows edits and keeps the last good file', async () => {
    const file = join(dir, 'demo.yaml');
    copyFileSync('examples/demo.yaml', file);
    const writer = new RecordingWriter();
    const publisher = new RecordingPublisher();
    const source = new ManifestSource(file, silentLogger());
    const loop = new ControllerLoop({ source, writer, publisher, logger: silentLogger(), debounceMs: 10 });
    try {
      await loop.start();
      assert.equal(publisher.tables.length, 1);
      assert.equal(publisher.tables[0]!.listeners.length, 3);
      assert.deepEqual(writer.services.map((s) => s.name).sort(), ['api', 'orders', 'web']);
      assert.equal(writer.pools.length, 1);

      // The same content again: nothing is published or written twice.
      source.reload();
      await loop.idle();
      assert.equal(publisher.tables.length, 1);
      assert.equal(writer.services.length, 3);

      // An edit, written by rename-over as editors do, adds one Service and one listener.
      const text = readFileSync(file, 'utf8');
      writeFileSync(`${file}.tmp`, text + EXTRA);
      renameSync(`${file}.tmp`, file);
      await eventually(() => publisher.tables.length === 2, 5000, 'the second publish');
      await loop.idle();
      assert.equal(publisher.tables[1]!.listeners.length, 4);
      assert.deepEqual(
        writer.services.slice(3).map((s) => s.name),
        ['extra'],
      );
      const extraIp = writer.services[3]!.ips[0];

      // A broken file is refused: nothing changes and the last good objects stay.
      writeFileSync(file, 'kind: Service\nmetadata: [\n');
      await new Promise((r) => setTimeout(r, 300));
      await loop.idle();
      assert.equal(publisher.tables.length, 2);
      const extra = loop.last()!.plan.services.find((s) => s.name === 'extra');
      assert.deepEqual(extra?.ips, [extraIp]);
    } finally {
      await loop.stop();
      await source.stop();
    }
  });

  it('retries a failed status write with backoff until it lands', async () => {
    const file = join(dir, 'retry.yaml');
    copyFileSync('examples/demo.yaml', file);
    const writer = new RecordingWriter();
    writer.failNext = 2;
    const publisher = new RecordingPublisher();
    const source = new ManifestSource(file, silentLogger());
    const loop = new ControllerLoop({ source, writer, publisher, logger: silentLogger(), debounceMs: 10 });
    try {
      await loop.start();
      await eventually(() => writer.services.length === 3, 5000, 'every Service written after retries');
      assert.equal(publisher.tables.length, 1, 'the table is not republished by the retries');
    } finally {
      await loop.stop();
      await source.stop();
    }
  });
});

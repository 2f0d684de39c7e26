import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { speakerSourceFrom } from '../../speaker/cluster-flags.ts';

function problems(r: ReturnType<typeof speakerSourceFrom>): string[] {
  return r.ok ? [] : r.problems.map((p) => `${p.field} ${p.code}`);
}

describe('speakerSourceFrom', () => {
  it('takes a table file when only --table is given', () => {
    assert.deepEqual(speakerSourceFrom({ table: 't.yaml' }), {
      ok: true,
      value: { kind: 'file', path: 't.yaml' },
    });
  });

  it('refuses both --table and --redis-url, and neither, naming the choice to make', () => {
    const both = speakerSourceFrom({ table: 't.yaml', redisUrl: 'redis://r:6379' });
    assert.deepEqual(problems(both), ['--table flag.table-source']);
    assert.match(both.ok ? '' : both.problems[0]!.message, /not both/);
    const neither = speakerSourceFrom({});
    assert.deepEqual(problems(neither), ['--table flag.table-source']);
    assert.match(neither.ok ? '' : neither.problems[0]!.message, /--redis-url/);
  });

  it('refuses cluster-only flags on a --table speaker, one problem per flag', () => {
    const r = speakerSourceFrom({ table: 't.yaml', announce: 'l2', nodeName: 'n1' });
    assert.deepEqual(problems(r).sort(), ['--announce flag.store-only', '--node-name flag.store-only']);
  });

  it('defaults a store speaker to l2 with the lease defaults, and needs a node name and an interface for l2', () => {
    assert.deepEqual(problems(speakerSourceFrom({ redisUrl: 'redis://r' })).sort(), [
      '--interface flag.interface',
      '--node-name flag.node-name',
    ]);
    const r = speakerSourceFrom({ redisSentinels: 's:26379', nodeName: 'n1', interface: 'eth0' });
    assert.ok(r.ok);
    assert.deepEqual(r.value, {
      kind: 'store',
      node: 'n1',
      nodeAddress: null,
      announce: 'l2',
      interface: 'eth0',
      timing: { ttlMs: 1500, renewMs: 250, marginMs: 150 },
      handoverDelayMs: 3000,
      retainOnStoreLossMs: Number.POSITIVE_INFINITY,
    });
  });

  it('reads --retain-on-store-loss as always, off or a duration, and names the fix for anything else', () => {
    const retain = (v: string) => {
      const r = speakerSourceFrom({
        redisUrl: 'redis://r',
        nodeName: 'n1',
        announce: 'none',
        retainOnStoreLoss: v,
      });
      return r.ok && r.value.kind === 'store' ? r.value.retainOnStoreLossMs : problems(r);
    };
    assert.equal(retain('always'), Number.POSITIVE_INFINITY);
    assert.equal(retain('off'), 0);
    assert.equal(retain('5m'), 300_000);
    assert.deepEqual(retain('sometimes'), ['--retain-on-store-loss flag.retain']);
  });

  it('refuses in l2 mode a lease timing that leaves no whole second of address lifetime, naming --lease-ttl', () => {
    // 1.5 s TTL, 150 ms margin, 500 ms renew: 1500 - 150 - 500 - 100 < 1000.
    const r = speakerSourceFrom({
      redisUrl: 'redis://r',
      nodeName: 'n1',
      interface: 'eth0',
      leaseTtl: '1500ms',
      leaseRenew: '500ms',
    });
    assert.deepEqual(problems(r), ['--lease-ttl flag.lease-timing']);
    // The same timing is fine where no address is added.
    assert.ok(
      speakerSourceFrom({
        redisUrl: 'redis://r',
        nodeName: 'n1',
        announce: 'none',
        leaseTtl: '1500ms',
        leaseRenew: '500ms',
      }).ok,
    );
  });

  it('reads --handover-delay as a duration and refuses garbage', () => {
    const r = speakerSourceFrom({
      redisUrl: 'redis://r',
      nodeName: 'n1',
      announce: 'none',
      handoverDelay: '1h',
    });
    assert.ok(r.ok && r.value.kind === 'store' && r.value.handoverDelayMs === 3_600_000);
    assert.deepEqual(
      problems(
        speakerSourceFrom({ redisUrl: 'redis://r', nodeName: 'n1', announce: 'none', handoverDelay: 'soon' }),
      ),
      ['--handover-delay flag.duration'],
    );
  });

  it('needs no interface in none and local modes', () => {
    for (const announce of ['none', 'local']) {
      const r = speakerSourceFrom({ redisUrl: 'redis://r', nodeName: 'n1', announce });
      assert.ok(
        r.ok && r.value.kind === 'store' && r.value.announce === announce && r.value.interface === null,
      );
    }
  });

  it('parses lease durations, scales the fence margin with short TTLs, and refuses a renew that would lose the lease', () => {
    const short = speakerSourceFrom({
      redisUrl: 'redis://r',
      nodeName: 'n1',
      announce: 'none',
      leaseTtl: '1s',
      leaseRenew: '250ms',
    });
    assert.ok(short.ok && short.value.kind === 'store');
    assert.deepEqual(short.value.timing, { ttlMs: 1000, renewMs: 250, marginMs: 100 });
    const tooSlow = speakerSourceFrom({
      redisUrl: 'redis://r',
      nodeName: 'n1',
      announce: 'none',
      leaseTtl: '2s',
      leaseRenew: '1500ms',
    });
    assert.deepEqual(problems(tooSlow), ['--lease-renew flag.lease-timing']);
    const garbage = speakerSourceFrom({
      redisUrl: 'redis://r',
      nodeName: 'n1',
      announce: 'none',
      leaseTtl: 'soon',
    });
    assert.deepEqual(problems(garbage), ['--lease-ttl flag.duration']);
  });
});

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../shared/log.ts';
import { NftVipFirewall, renderVipRuleset } from '../../speaker/announce/vip-firewall.ts';
import { NetnsCluster } from '../harness/netns.ts';

const VIP = '198.18.0.100';
const NODE = process.execPath;

/** Exit code of a TCP connect from `host` to ip:port: 0 connected, 1 refused/reset, 2 timed out. */
async function connectFrom(cluster: NetnsCluster, host: string, ip: string, port: number): Promise<number> {
  const script = `const s=require('net').connect(${port},'${ip}');s.setTimeout(1500,()=>process.exit(2));s.on('connect',()=>process.exit(0));s.on('error',()=>process.exit(1));`;
  const r = await cluster.runner(host)(NODE, ['-e', script]);
  return r.code;
}

describe('renderVipRuleset', () => {
  it('allows exactly the listed VIP:port pairs, per family, and omits empty element lists', () => {
    const text = renderVipRuleset([
      { vip: '198.18.0.100', port: 80 },
      { vip: '2001:db8::1', port: 443 },
    ]);
    assert.match(
      text,
      /set svc4 \{ type ipv4_addr \. inet_service; elements = \{ 198\.18\.0\.100 \. 80 \}; \}/,
    );
    assert.match(text, /set svc6 \{ type ipv6_addr \. inet_service; elements = \{ 2001:db8::1 \. 443 \}; \}/);
    assert.doesNotMatch(renderVipRuleset([]), /elements/);
  });
});

describe('NftVipFirewall in a namespace cluster', { timeout: 60_000 }, () => {
  let cluster: NetnsCluster;
  before(async () => {
    cluster = await NetnsCluster.create(['client', 'n1']);
    const run = cluster.runner('n1');
    await run('ip', ['addr', 'add', `${VIP}/32`, 'dev', 'eth0']);
    // A "host service" on every address, and the Service's listener on the VIP.
    const servers = cluster.spawn('n1', NODE, [
      '-e',
      "const net=require('net');net.createServer(s=>s.end()).listen(2222,'0.0.0.0');net.createServer(s=>s.end()).listen(80,'198.18.0.100',()=>console.log('up'));",
    ]);
    await once(servers.stdout!, 'data');
  });
  after(async () => {
    await cluster?.destroy();
  });

  it('without the allowlist a host service is reachable through the VIP (the leak it closes)', async () => {
    assert.equal(await connectFrom(cluster, 'client', VIP, 2222), 0);
  });

  it('with the allowlist only the Service port answers on the VIP; the node address is untouched', async () => {
    const fw = new NftVipFirewall({ run: cluster.runner('n1'), logger: silentLogger() });
    await fw.apply([{ vip: VIP, port: 80 }]);
    assert.equal(await connectFrom(cluster, 'client', VIP, 80), 0);
    assert.equal(await connectFrom(cluster, 'client', VIP, 2222), 1, 'reset, not reachable');
    assert.equal(await connectFrom(cluster, 'client', '198.18.0.11', 2222), 0);
    await fw.close();
    assert.equal(await connectFrom(cluster, 'client', VIP, 2222), 0, 'close() removes the table');
  });
});

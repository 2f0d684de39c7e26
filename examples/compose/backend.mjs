// A demo "node" for docker-compose.yml: HTTP servers on the node's NodePorts answering with the node
// name, and a kube-proxy-like /healthz on HEALTH_PORT, so the speakers' health checks pass as on a
// cluster. Settings (environment): NODE_NAME, PORTS (comma-separated NodePorts), HEALTH_PORT (10256),
// LISTEN_HOST (0.0.0.0). Port 0 picks a free port; the "ready" line says which (the tests use that).
import { createServer } from 'node:http';

const node = process.env.NODE_NAME || 'node';
const host = process.env.LISTEN_HOST || '0.0.0.0';
const ports = (process.env.PORTS || '30080,30081').split(',').map((p) => Number(p.trim()));
const healthPort = Number(process.env.HEALTH_PORT ?? 10256);
if (ports.some((p) => !Number.isInteger(p) || p < 0 || p > 65535) || !Number.isInteger(healthPort)) {
  process.stderr.write(`backend: PORTS and HEALTH_PORT must be port numbers\n`);
  process.exit(2);
}

function listen(port, handler) {
  const server = createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

const nodePortServers = await Promise.all(
  ports.map((port) =>
    listen(port, (req, res) => {
      const local = req.socket.localPort;
      res.setHeader('content-type', 'text/plain');
      // The peer is the speaker that proxied the connection, not the client: Switchyard proxies in user space.
      res.end(`hello from ${node} (NodePort ${local}), via ${req.socket.remoteAddress}\n`);
    }),
  ),
);
const healthServer = await listen(healthPort, (req, res) => {
  res.statusCode = req.url === '/healthz' ? 200 : 404;
  res.end(res.statusCode === 200 ? 'ok\n' : 'not found\n');
});

const servers = [...nodePortServers, healthServer];
process.stdout.write(
  `${JSON.stringify({
    event: 'ready',
    node,
    nodePorts: nodePortServers.map((s) => s.address().port),
    healthPort: healthServer.address().port,
  })}\n`,
);

function stop() {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

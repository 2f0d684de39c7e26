/**
 * The kubeconfig that points a real client (or the controller binary) at the fake API server: plain
 * HTTP, which client-node only accepts with `insecure-skip-tls-verify`, and bearer-token auth.
 */
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';

/** Render a kubeconfig for `server` (an http:// URL) with `token`, default namespace `namespace`. */
export function renderKubeconfig(server: string, token: string, namespace = 'default'): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'fake', cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'fake', user: { token } }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake', namespace } }],
    'current-context': 'fake',
  });
}

/** Write the kubeconfig to `path` (mode 0600, as it holds a token) and return the path. */
export async function writeKubeconfig(path: string, server: string, token: string): Promise<string> {
  await writeFile(path, renderKubeconfig(server, token), { mode: 0o600 });
  return path;
}

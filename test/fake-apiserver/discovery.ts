/**
 * Discovery documents (`/version`, `/api`, `/apis`, `/api/v1`, `/apis/GROUP/VERSION`) built from the
 * served resource types, enough for clients that map a kind to its plural before they call.
 */
import { apiVersionOf, type ResourceType } from './resources.ts';

const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

/** The discovery document at `path`, or null when the path names nothing. */
export function discoveryDocument(path: string, resources: readonly ResourceType[]): object | null {
  const parts = path.split('/').filter((p) => p !== '');
  if (parts[0] === 'version') {
    return { major: '1', minor: '33', gitVersion: 'v1.33.0-switchyard-fake', platform: 'linux/amd64' };
  }
  if (parts[0] === 'api' && parts.length === 1) {
    return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] };
  }
  if (parts[0] === 'apis' && parts.length === 1) {
    const groups = new Map<string, Set<string>>();
    for (const r of resources) {
      if (r.group !== '') groups.set(r.group, (groups.get(r.group) ?? new Set()).add(r.version));
    }
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [...groups].map(([name, versions]) => {
        const list = [...versions].map((version) => ({ groupVersion: `${name}/${version}`, version }));
        return { name, versions: list, preferredVersion: list[0] };
      }),
    };
  }
  const group = parts[0] === 'api' ? '' : parts[1];
  const version = parts[0] === 'api' ? parts[1] : parts[2];
  const served = resources.filter((r) => r.group === group && r.version === version);
  if (served.length === 0) return null;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: apiVersionOf(served[0]!),
    resources: served.flatMap((r) => {
      const main = {
        name: r.plural,
        singularName: r.kind.toLowerCase(),
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: VERBS,
      };
      if (!r.statusSubresource) return [main];
      return [
        main,
        {
          name: `${r.plural}/status`,
          singularName: '',
          namespaced: r.namespaced,
          kind: r.kind,
          verbs: ['get', 'patch', 'update'],
        },
      ];
    }),
  };
}

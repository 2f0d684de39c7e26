/**
 * The resource types the fake API server serves and how a request path maps onto them. Paths follow
 * the real API server: `/api/v1/...` for the core group, `/apis/GROUP/VERSION/...` for the others,
 * `namespaces/NS/` before namespaced resources, `/status` after a name for the status subresource.
 */

/** One REST resource: where it lives and how it behaves. */
export interface ResourceType {
  /** API group; empty for the core group. */
  readonly group: string;
  readonly version: string;
  /** Lower-case plural used in paths, e.g. `services`. */
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
  /** Whether `/status` exists; writes to the main resource then leave `.status` alone. */
  readonly statusSubresource: boolean;
}

/** The resources a Switchyard controller touches, with the same scope and subresources as a real cluster. */
export const DEFAULT_RESOURCES: readonly ResourceType[] = [
  {
    group: '',
    version: 'v1',
    plural: 'services',
    kind: 'Service',
    namespaced: true,
    statusSubresource: true,
  },
  { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false, statusSubresource: true },
  {
    group: '',
    version: 'v1',
    plural: 'namespaces',
    kind: 'Namespace',
    namespaced: false,
    statusSubresource: true,
  },
  { group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true, statusSubresource: false },
  {
    group: 'discovery.k8s.io',
    version: 'v1',
    plural: 'endpointslices',
    kind: 'EndpointSlice',
    namespaced: true,
    statusSubresource: false,
  },
  {
    group: 'coordination.k8s.io',
    version: 'v1',
    plural: 'leases',
    kind: 'Lease',
    namespaced: true,
    statusSubresource: false,
  },
  {
    group: 'events.k8s.io',
    version: 'v1',
    plural: 'events',
    kind: 'Event',
    namespaced: true,
    statusSubresource: false,
  },
  {
    group: 'switchyard.io',
    version: 'v1beta1',
    plural: 'ipaddresspools',
    kind: 'IPAddressPool',
    namespaced: true,
    statusSubresource: true,
  },
];

/** `v1` for the core group, `group/version` otherwise: the value of an object's `apiVersion`. */
export function apiVersionOf(r: Pick<ResourceType, 'group' | 'version'>): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

/** Identity of a resource type across groups, e.g. `events.events.k8s.io/v1` vs `events/v1`. */
export function resourceId(r: Pick<ResourceType, 'group' | 'version' | 'plural'>): string {
  return r.group === '' ? `${r.plural}/${r.version}` : `${r.plural}.${r.group}/${r.version}`;
}

/** What a request path names. */
export type ParsedPath =
  /** A resource collection or one object of it. */
  | {
      readonly type: 'resource';
      readonly resource: ResourceType;
      /** Namespace from the path; null for cluster-scoped resources and lists across all namespaces. */
      readonly namespace: string | null;
      readonly name: string | null;
      readonly subresource: 'status' | null;
    }
  /** A discovery document: `/api`, `/apis`, `/api/v1`, `/apis/GROUP/VERSION`, `/version`. */
  | { readonly type: 'discovery'; readonly path: string }
  | { readonly type: 'unknown' };

/** Map a URL path (no query) onto a resource of `resources`. */
export function parsePath(pathname: string, resources: readonly ResourceType[]): ParsedPath {
  const parts = pathname.split('/').filter((p) => p !== '');
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'version' && parts.length === 1) return { type: 'discovery', path: pathname };
  if (parts[0] === 'api') {
    if (parts.length <= 2) return { type: 'discovery', path: pathname };
    group = '';
    version = parts[1]!;
    rest = parts.slice(2);
  } else if (parts[0] === 'apis') {
    if (parts.length <= 3) return { type: 'discovery', path: pathname };
    group = parts[1]!;
    version = parts[2]!;
    rest = parts.slice(3);
  } else {
    return { type: 'unknown' };
  }
  const find = (plural: string | undefined) =>
    resources.find((r) => r.group === group && r.version === version && r.plural === plural);

  // `namespaces/NAME[/status]` is the Namespace object itself; `namespaces/NS/PLURAL/...` is inside it.
  let namespace: string | null = null;
  if (rest[0] === 'namespaces' && rest.length >= 3 && rest[2] !== 'status') {
    namespace = decodeURIComponent(rest[1]!);
    rest = rest.slice(2);
  }
  const resource = find(rest[0]);
  if (!resource || rest.length > 3) return { type: 'unknown' };
  if (namespace !== null && !resource.namespaced) return { type: 'unknown' };
  const name = rest[1] === undefined ? null : decodeURIComponent(rest[1]);
  let subresource: 'status' | null = null;
  if (rest[2] !== undefined) {
    if (rest[2] !== 'status' || !resource.statusSubresource) return { type: 'unknown' };
    subresource = 'status';
  }
  // A namespaced object is always addressed inside its namespace; only lists may span all of them.
  if (resource.namespaced && namespace === null && name !== null) return { type: 'unknown' };
  return { type: 'resource', resource, namespace, name, subresource };
}

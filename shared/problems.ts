/**
 * Every problem code Switchyard reports, in one typed catalog: the code a user sees in a log line,
 * an Event or a CLI error, whether it refuses the input or only warns, and when it is reported.
 * A code is stable once released; docs/problems.md lists them all (a test keeps the two equal).
 * The model is undici's lib/core/errors.js: one place that names every error a caller can meet.
 */

/**
 * `error`: what the problem names is refused or left out (a document, a pool, a Service's IP, a
 * listener, a flag). `warning`: it is reported while the input is accepted, perhaps with a default.
 */
export type Severity = 'error' | 'warning';

/** What the catalog says about one code. */
export interface ProblemInfo {
  readonly severity: Severity;
  /** When the code is reported, in the words of docs/problems.md. */
  readonly when: string;
}

/** The catalog, by code. The part before the dot is the area that reports it. */
export const PROBLEMS = {
  'alloc.buggy-ip': {
    severity: 'error',
    when: 'a requested .0 or .255 address lies in a pool with `avoidBuggyIPs`',
  },
  'alloc.duplicate-family': { severity: 'error', when: 'the requested IPs hold two addresses of one family' },
  'alloc.family-mismatch': {
    severity: 'error',
    when: 'a requested IP is of a family the Service does not have',
  },
  'alloc.ip-in-use': {
    severity: 'error',
    when: 'the IP is held by another Service without the same sharing key (the message names it)',
  },
  'alloc.ip-not-in-named-pool': {
    severity: 'error',
    when: 'a requested IP lies outside the pool named by the `address-pool` annotation',
  },
  'alloc.ip-not-in-pool': { severity: 'error', when: 'a requested IP lies in no pool' },
  'alloc.no-free-ip': {
    severity: 'error',
    when: 'no pool that serves the Service has a free address (of both families for RequireDualStack)',
  },
  'alloc.no-pool': { severity: 'error', when: 'there is no pool at all, or none with `autoAssign`' },
  'alloc.pool-not-allowed': {
    severity: 'error',
    when: "the IP's or named pool's `serviceAllocation` does not serve this namespace or these labels, or no auto-assign pool does",
  },
  'alloc.port-conflict': {
    severity: 'error',
    when: 'same sharing key, but a (protocol, port) is already used on the IP (the message names the Service)',
  },
  'alloc.sharing-policy-mismatch': {
    severity: 'error',
    when: 'same sharing key, but another traffic policy or Local selector (the message names the Service)',
  },
  'alloc.unknown-pool': {
    severity: 'error',
    when: '`address-pool` names a pool that does not exist (or was refused)',
  },
  'announce.capabilities': { severity: 'error', when: '`--announce l2` without NET_ADMIN and NET_RAW' },
  'announce.interface-missing': { severity: 'error', when: '`--interface` names no interface on this node' },
  'announce.interface-name': {
    severity: 'error',
    when: '`--interface` is longer than 12 characters (the `<ifname>:sy` address label must fit 15)',
  },
  'announce.nftables': {
    severity: 'error',
    when: '`--announce l2` and nft cannot install the VIP allowlist',
  },
  'compile.conflicting-annotation': {
    severity: 'warning',
    when: 'a data-plane annotation contradicts the Service (e.g. `lb-algorithm` with sessionAffinity ClientIP); the Service wins',
  },
  'compile.duplicate-node-address': {
    severity: 'error',
    when: 'two Nodes give the same InternalIP; the second is left out of the backends',
  },
  'compile.invalid-annotation': {
    severity: 'warning',
    when: 'a data-plane annotation (`proxy-protocol`, `lb-algorithm`, limits, timeouts) has a value it cannot take; its default is used until it is fixed',
  },
  'compile.invalid-name': { severity: 'error', when: "the Service's namespace or name is not a DNS label" },
  'compile.invalid-port': { severity: 'error', when: 'a Service port or NodePort is not 1-65535' },
  'compile.invalid-source-range': {
    severity: 'error',
    when: 'an entry of the source ranges is not a CIDR; it is dropped, never widening access',
  },
  'compile.invalid-vip': {
    severity: 'error',
    when: 'the allocator assigned something that is not an IP (a bug)',
  },
  'compile.listener-conflict': {
    severity: 'error',
    when: 'two Services claim the same VIP:port/protocol; the younger one gets no listener',
  },
  'compile.no-node-port': {
    severity: 'error',
    when: 'a port has no NodePort (`allocateLoadBalancerNodePorts: false`); it gets no listener',
  },
  'compile.no-valid-source-range': {
    severity: 'error',
    when: 'source ranges were given but none is usable; the Service gets no listeners rather than admit everyone',
  },
  'compile.node-without-address': {
    severity: 'error',
    when: 'a Node has no InternalIP of a family; it serves no VIP of that family',
  },
  'compile.unknown-annotation': {
    severity: 'warning',
    when: 'a `switchyard.io/` annotation Switchyard does not read',
  },
  'compile.unsupported-protocol': { severity: 'error', when: 'a port is not TCP; it gets no listener' },
  'controller.invalid-duration': {
    severity: 'error',
    when: 'a `--leader-election-*` duration does not parse',
  },
  'controller.kubeconfig': {
    severity: 'error',
    when: 'no kubeconfig could be loaded (flag, $KUBECONFIG, in-cluster, ~/.kube/config)',
  },
  'controller.metrics-address': { severity: 'error', when: '`--metrics-address` is not IP:PORT or "off"' },
  'flag.announce': { severity: 'error', when: '`--announce` is not l2, none or local' },
  'flag.duration': { severity: 'error', when: 'a speaker duration flag does not parse' },
  'flag.interface': {
    severity: 'error',
    when: '`--announce l2` without `--interface`',
  },
  'flag.invalid': {
    severity: 'error',
    when: 'a speaker flag has a value it cannot take (`--workers`, `--max-connections`, `--drain-timeout`, `--metrics-address`)',
  },
  'flag.lease-timing': {
    severity: 'error',
    when: '`--lease-ttl` and `--lease-renew` leave too small a fencing margin',
  },
  'flag.node-name': {
    severity: 'error',
    when: 'a store speaker without `--node-name`',
  },
  'flag.retain': { severity: 'error', when: '`--retain-on-store-loss` is not always, off or a duration' },
  'flag.store-only': { severity: 'error', when: 'a cluster flag was given to a `--table` speaker' },
  'flag.table-source': { severity: 'error', when: 'neither or both of `--table` and the store flags' },
  'leader-election.invalid-timing': {
    severity: 'error',
    when: 'the leader-election timings could let two replicas lead (renew deadline not below the lease duration, and so on)',
  },
  'lease.invalid-timing': {
    severity: 'error',
    when: 'the VIP lease timing could let two nodes answer (renew not well below the TTL)',
  },
  'manifest.duplicate-object': {
    severity: 'error',
    when: 'an object of the same kind and name is defined twice',
  },
  'manifest.invalid-field': { severity: 'error', when: 'a field has the wrong type or value for its kind' },
  'manifest.invalid-name': {
    severity: 'error',
    when: '`metadata.name` or `metadata.namespace` is not a valid Kubernetes name',
  },
  'manifest.missing-api-version': { severity: 'error', when: 'an object has no apiVersion' },
  'manifest.missing-field': { severity: 'error', when: 'a required field is missing' },
  'manifest.missing-kind': { severity: 'error', when: 'an object has no kind' },
  'manifest.missing-name': { severity: 'error', when: 'an object has no `metadata.name`' },
  'manifest.node-unusable': {
    severity: 'warning',
    when: 'a Node has no InternalIP, so it can serve nothing',
  },
  'manifest.not-a-mapping': { severity: 'error', when: 'a document is not one Kubernetes object' },
  'manifest.unknown-kind': {
    severity: 'warning',
    when: 'a kind Switchyard does not read; the document is skipped',
  },
  'manifest.unlinked-endpoint-slice': {
    severity: 'warning',
    when: 'an EndpointSlice without the `kubernetes.io/service-name` label',
  },
  'manifest.unreadable': { severity: 'error', when: 'the manifest file cannot be read' },
  'manifest.wrong-api-version': { severity: 'error', when: 'an apiVersion that does not go with its kind' },
  'manifest.yaml-syntax': { severity: 'error', when: 'a document is not valid YAML' },
  'metrics.bind': { severity: 'error', when: 'the metrics endpoint cannot bind its address' },
  'pool.duplicate-name': { severity: 'error', when: 'two pools have one name' },
  'pool.empty-addresses': { severity: 'error', when: '`spec.addresses` is missing or empty' },
  'pool.host-bits-set': {
    severity: 'warning',
    when: 'a CIDR has host bits set; the pool uses the network it names',
  },
  'pool.invalid-address': {
    severity: 'error',
    when: 'an `addresses` entry is neither a CIDR nor an `a-b` range',
  },
  'pool.invalid-api-version': {
    severity: 'error',
    when: 'an apiVersion other than `switchyard.io/v1beta1` or `metallb.io/v1beta1`',
  },
  'pool.invalid-kind': { severity: 'error', when: 'a kind other than IPAddressPool' },
  'pool.invalid-name': { severity: 'error', when: '`metadata.name` is not a DNS subdomain name' },
  'pool.invalid-priority': {
    severity: 'error',
    when: '`serviceAllocation.priority` is not a whole number >= 0',
  },
  'pool.invalid-selector': {
    severity: 'error',
    when: 'a label selector is malformed (matchLabels, matchExpressions, operators, values)',
  },
  'pool.invalid-type': {
    severity: 'error',
    when: 'a field has the wrong type (`autoAssign`, `avoidBuggyIPs`, a list, the spec)',
  },
  'pool.invalid-value': {
    severity: 'error',
    when: 'an entry of a list field (namespaces, for example) is not what the list holds',
  },
  'pool.metallb-api-version': { severity: 'warning', when: 'a `metallb.io/v1beta1` pool, read as ours' },
  'pool.mixed-family-range': {
    severity: 'error',
    when: 'the two ends of an `a-b` range are of different families',
  },
  'pool.overlap': { severity: 'error', when: 'two address entries overlap, in one pool or across pools' },
  'pool.reversed-range': { severity: 'error', when: 'an `a-b` range whose first address is after its last' },
  'pool.unknown-field': { severity: 'warning', when: 'a field Switchyard does not read; it is ignored' },
  'redis.ambiguous-password': {
    severity: 'error',
    when: 'both the password file flag and the password variable are set',
  },
  'redis.ca-file': { severity: 'error', when: '`--redis-tls-ca-file` cannot be read' },
  'redis.invalid-db': { severity: 'error', when: 'the Redis database is not an integer >= 0' },
  'redis.invalid-prefix': {
    severity: 'error',
    when: 'the key prefix is not 1-64 letters, digits or `_ . : -`',
  },
  'redis.invalid-sentinel': { severity: 'error', when: 'a Sentinel is not host:port' },
  'redis.invalid-timeout': { severity: 'error', when: 'a Redis timeout is not an integer >= 100 (ms)' },
  'redis.invalid-url': {
    severity: 'error',
    when: 'the Redis URL is not `redis://` or `rediss://` host:port/db',
  },
  'redis.missing-master': { severity: 'error', when: 'Sentinels without the master name' },
  'redis.mode': { severity: 'error', when: 'neither or both of `--redis-url` and `--redis-sentinels`' },
  'redis.password-file': { severity: 'error', when: 'the password file cannot be read' },
  'redis.password-in-url': { severity: 'error', when: 'a password written inside the Redis URL' },
  'run.demo-port': { severity: 'error', when: "a demo node's NodePort is taken on this machine" },
  'run.metrics-address': {
    severity: 'error',
    when: '`switchyard run --metrics-address` is not IP:port or "off"',
  },
  'run.no-demo': { severity: 'error', when: 'the demo manifest is not installed; pass `--config`' },
  'service.conflicting-ip-request': {
    severity: 'error',
    when: '`spec.loadBalancerIP` and the `loadBalancerIPs` annotation are set together',
  },
  'service.deprecated-annotation': {
    severity: 'warning',
    when: 'a MetalLB spelling of an annotation was read',
  },
  'service.duplicate-family': {
    severity: 'error',
    when: 'the requested IPs hold two addresses of one family',
  },
  'service.family-mismatch': {
    severity: 'error',
    when: 'a requested IP is of a family the Service does not have',
  },
  'service.invalid-ip': { severity: 'error', when: 'a requested IP is not an IP address' },
  'service.invalid-ip-families': {
    severity: 'error',
    when: '`spec.ipFamilies` holds something other than IPv4 and IPv6, or one twice',
  },
  'service.invalid-ip-family-policy': {
    severity: 'error',
    when: '`spec.ipFamilyPolicy` is not SingleStack, PreferDualStack or RequireDualStack',
  },
  'service.invalid-port': { severity: 'error', when: 'a port is not 1-65535' },
  'service.invalid-protocol': { severity: 'error', when: 'a protocol is not TCP, UDP or SCTP' },
  'service.invalid-traffic-policy': {
    severity: 'error',
    when: '`spec.externalTrafficPolicy` is not Cluster or Local',
  },
  'status.flag': { severity: 'error', when: 'a `switchyard status` flag has a value it cannot take' },
  'status.unreachable': {
    severity: 'error',
    when: '`switchyard status` cannot reach the `--url` it was given',
  },
  'store.key-mismatch': {
    severity: 'error',
    when: "a stored listener's key does not match its content; the version is refused",
  },
  'store.malformed-listener': {
    severity: 'error',
    when: 'a stored listener does not decode; the version is refused',
  },
  'store.stale-term': {
    severity: 'error',
    when: "a write of a controller whose leadership term has passed (an error class's code)",
  },
  'store.unavailable': { severity: 'error', when: "the in-process store is closed (an error class's code)" },
  'store.unreachable': { severity: 'error', when: 'Redis does not answer at start' },
  'table.duplicate-backend': { severity: 'error', when: 'a backend is listed twice in one listener' },
  'table.duplicate-listener': { severity: 'error', when: 'a VIP:port/protocol is defined twice' },
  'table.invalid-address': { severity: 'error', when: 'a VIP or backend address is not an IP address' },
  'table.invalid-cidr': { severity: 'error', when: 'a source range is not a CIDR' },
  'table.invalid-duration': {
    severity: 'error',
    when: 'a timeout does not parse or is longer than Node.js can time',
  },
  'table.invalid-number': { severity: 'error', when: 'a count or limit is not a safe integer in range' },
  'table.invalid-port': { severity: 'error', when: 'a port is not 1-65535' },
  'table.invalid-service': { severity: 'error', when: "a listener's `service` is not namespace/name" },
  'table.invalid-type': { severity: 'error', when: 'a field has the wrong type' },
  'table.invalid-value': { severity: 'error', when: 'a field is not one of the values it may take' },
  'table.invalid-vip': { severity: 'error', when: 'a VIP is not an IP address' },
  'table.malformed': { severity: 'error', when: 'the table file is not one YAML or JSON document' },
  'table.unknown-field': { severity: 'error', when: 'a field the table format does not have' },
  'table.unreadable': { severity: 'error', when: 'the table file cannot be read' },
  'table.unsupported-protocol': { severity: 'error', when: 'a protocol the data plane does not carry' },
} as const satisfies Record<string, ProblemInfo>;

/** A code from the catalog. */
export type ProblemCode = keyof typeof PROBLEMS;

/** The codes of one area, without the area: `CodeIn<'pool'>` is `'overlap' | 'invalid-address' | ...`. */
export type CodeIn<Area extends string> = {
  [C in ProblemCode]: C extends `${Area}.${infer Rest}` ? Rest : never;
}[ProblemCode];

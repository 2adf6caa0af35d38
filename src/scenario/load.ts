// Reads a scenario file: YAML → position-carrying tree → structural check against
// SCENARIO_SCHEMA (schema.ts) → cross-reference checks → the typed Scenario of types.ts.
// Every problem is a ScenarioError naming file:line:col of the node at fault.

import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { isMulticast, isV4Mapped, parseCidr, parseEndpoint, parseIp, v4FromMapped, type Cidr, type Endpoint, type IpAddr } from '../emu/addr.js';
import { builtinRules } from '../emu/policy/rules.js';
import {
  DEFAULT_FORMAT_CONTEXT,
  POLICY_FILE_SCHEMA,
  validateNode,
  parseDuration,
  parsePortRange,
  parseBufferSizes,
  parseSource,
  validateTree,
  type FormatContext,
  type TreeMap,
  type TreeNode,
} from './schema.js';
import {
  CONNECT_OUTCOMES,
  DATAGRAM_OUTCOMES,
  ERRNO_NAMES,
  OPTION_NAMES,
  UDP_OPTION_NAMES,
  ScenarioError,
  throwCollected,
  CheckingStopped,
  collect,
  type CustomPolicySpec,
  type DnsQtype,
  type Expectation,
  type Host,
  type Interface,
  type Link,
  type Scenario,
  type SockOptions,
  type SourcePos,
  type Step,
} from './types.js';
import { checkScenarioSize, decodeScenario, yamlTree } from './yaml-tree.js';
import { parseRoutes } from './routes.js';

export interface LoadOptions {
  /** Policy names the file may list and expect on; default: the built-in policies. */
  readonly policies?: readonly string[];
  /** Custom policies from a --policy-file (loadPolicyFile): their names may be listed and expected on. */
  readonly customPolicies?: readonly CustomPolicySpec[];
}

/** The link every interface is on when the file declares no links. */
export const DEFAULT_LINK: Link = { name: 'lan', latencyNs: 100_000 };

/** Reads and parses a scenario file; an unreadable file is a ScenarioError at 1:1. */
export function loadScenarioFile(path: string, options: LoadOptions = {}): Scenario {
  return parseScenario(readScenarioText(path, 'scenario'), path, options);
}

/**
 * A scenario or policy file's text: refused before reading when larger than MAX_SCENARIO_BYTES,
 * and when not UTF-8 (with the position of the first byte that is not).
 */
function readScenarioText(path: string, what: string): string {
  let bytes: Buffer;
  try {
    const fd = openSync(path, 'r');
    try {
      const st = fstatSync(fd);
      // A regular file's size is known before reading it (a pipe's is not: read, then check).
      if (st.isFile()) checkScenarioSize(st.size, path, what);
      bytes = readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if (err instanceof ScenarioError) throw err;
    // "ENOENT: no such file or directory, open 'x.yaml'" → the part before the path.
    const reason = (err as Error).message.replace(/, \w+ '.*'$/, '');
    throw new ScenarioError(path, 1, 1, `cannot read ${what}: ${reason}`);
  }
  checkScenarioSize(bytes.length, path, what);
  return decodeScenario(bytes, path, what);
}

/** Parses scenario text; `file` is used in messages and kept in the result. */
export function parseScenario(text: string, file: string, options: LoadOptions = {}): Scenario {
  const tree = yamlTree(text, file);
  const given = options.customPolicies ?? [];
  const known = [...(options.policies ?? DEFAULT_FORMAT_CONTEXT.policies), ...given.map((c) => c.name), ...customNames(tree)];
  const ctx: FormatContext = { policies: [...new Set(known)] };
  const root = validateTree(tree, file, ctx);
  return new Resolver(file, given).scenario(root);
}

/** Names of the custom policies defined in a scenario's policies list, before validation (so they may be expected on). */
function customNames(tree: TreeNode): string[] {
  if (tree.kind !== 'map') return [];
  const list = tree.entries.find((e) => e.key === 'policies')?.value;
  if (!list || list.kind !== 'list') return [];
  return list.items.flatMap((i) => {
    const n = i.kind === 'map' ? i.entries.find((e) => e.key === 'name')?.value : undefined;
    return n && n.kind === 'scalar' && typeof n.value === 'string' ? [n.value] : [];
  });
}

/**
 * Reads a policy file (--policy-file): a YAML list of custom policies, validated like a
 * scenario's (file:line:col). `earlier` are custom policies already defined (other files).
 */
export function loadPolicyFile(path: string, earlier: readonly CustomPolicySpec[] = []): CustomPolicySpec[] {
  const tree = yamlTree(readScenarioText(path, 'policy file'), path);
  const names = tree.kind === 'list' ? tree.items.flatMap((i) => customNames({ kind: 'map', pos: i.pos, entries: [{ key: 'policies', keyPos: i.pos, value: { kind: 'list', pos: i.pos, items: [i] } }] })) : [];
  const ctx: FormatContext = { policies: [...new Set([...DEFAULT_FORMAT_CONTEXT.policies, ...earlier.map((c) => c.name), ...names])] };
  if (tree.kind !== 'list') {
    throw new ScenarioError(path, tree.pos.line, tree.pos.col, 'a policy file is a list of custom policies {name, extends, rules}');
  }
  const root = validateNode(tree, POLICY_FILE_SCHEMA, path, ctx);
  const specs = [...earlier];
  const all = customDefinitions(items(root));
  for (const item of items(root)) specs.push(customSpec(asMap(item), path, specs, all));
  return specs.slice(earlier.length);
}

/** The custom policies a validated list defines: name → the policy it extends, and where. */
function customDefinitions(list: readonly TreeNode[]): Map<string, { readonly base: string; readonly pos: SourcePos }> {
  const out = new Map<string, { base: string; pos: SourcePos }>();
  for (const item of list) {
    if (item.kind !== 'map') continue;
    const name = entry(item, 'name');
    const base = entry(item, 'extends');
    if (name && base && !out.has(text(name))) out.set(text(name), { base: text(base), pos: name.pos });
  }
  return out;
}

/**
 * A validated custom policy node as a spec; checks its name is new and its base can be extended.
 * `sameList` are the custom policies of the list it is in (a base defined later in it, or a
 * circle of policies extending each other, gets its own message).
 */
function customSpec(m: TreeMap, file: string, earlier: readonly CustomPolicySpec[],
  sameList: ReadonlyMap<string, { readonly base: string; readonly pos: SourcePos }> = new Map()): CustomPolicySpec {
  const fail = (pos: SourcePos, msg: string): never => { throw new ScenarioError(file, pos.line, pos.col, msg); };
  const nameNode = entry(m, 'name')!;
  const name = text(nameNode);
  if (builtinRules(name) !== undefined || (DEFAULT_FORMAT_CONTEXT.policies as readonly string[]).includes(name)) {
    fail(nameNode.pos, `custom policy name "${name}" is a built-in policy's; choose another name`);
  }
  const twice = earlier.find((c) => c.name === name);
  if (twice) fail(nameNode.pos, `custom policy "${name}" is already defined (${twice.file}:${twice.pos.line})`);
  const extNode = entry(m, 'extends')!;
  const base = text(extNode);
  if (builtinRules(base) === undefined && !earlier.some((c) => c.name === base)) {
    if (base === name) fail(extNode.pos, `circular extends: custom policy "${name}" extends itself; a custom policy must rest on a built-in one`);
    const chain = [name];
    for (let at = base; sameList.has(at) && !chain.includes(at);) {
      chain.push(at);
      at = sameList.get(at)!.base;
      if (at === name) fail(extNode.pos, `circular extends: ${[...chain, name].map((c) => `"${c}"`).join(' extends ')}; a custom policy must rest on a built-in one`);
    }
    const later = sameList.get(base);
    if (later) fail(extNode.pos, `custom policy "${name}" extends "${base}", which is defined after it (line ${later.pos.line}); define "${base}" first`);
    const extendable = [...DEFAULT_FORMAT_CONTEXT.policies.filter((p) => builtinRules(p) !== undefined), ...earlier.map((c) => c.name)];
    fail(extNode.pos, `policy "${base}" has no rule description and cannot be extended; extendable: ${quoteList(extendable)}`);
  }
  const rules: Record<string, string | boolean> = {};
  for (const e of asMap(entry(m, 'rules')!).entries) rules[e.key] = (e.value as { value: string | boolean }).value;
  const title = entry(m, 'title');
  return { name, extends: base, ...(title ? { title: text(title) } : {}), rules, file, pos: m.pos };
}

// ---------------------------------------------------------------------------------------------
// Tree access, for trees that already passed validateTree.

function entry(map: TreeMap, key: string): TreeNode | undefined {
  return map.entries.find((e) => e.key === key)?.value;
}
function text(node: TreeNode): string {
  return (node as { value: string }).value;
}
function num(node: TreeNode): number {
  return (node as { value: number }).value;
}
function asMap(node: TreeNode): TreeMap {
  return node as TreeMap;
}
function items(node: TreeNode | undefined): readonly TreeNode[] {
  return node && node.kind === 'list' ? node.items : [];
}
const quoteList = (names: Iterable<string>): string => {
  const all = [...names];
  return all.length ? all.join(', ') : '(none)';
};

// ---------------------------------------------------------------------------------------------
// Cross-references and conversion.

interface SocketInfo {
  readonly host: string;
  readonly family: 'inet' | 'inet6';
  readonly type: 'tcp' | 'udp';
  readonly pos: SourcePos;
}

class Resolver {
  private hosts: Host[] = [];
  private readonly sockets = new Map<string, SocketInfo>();

  private readonly customs: CustomPolicySpec[];

  constructor(readonly file: string, given: readonly CustomPolicySpec[] = []) {
    this.customs = [...given];
  }

  private fail(pos: SourcePos, message: string): never {
    throw new ScenarioError(this.file, pos.line, pos.col, message);
  }

  /** Problems of independent parts (hosts, steps), reported together. */
  private readonly errors: ScenarioError[] = [];

  /** Runs the check of one independent part; its problem is collected and the part gives nothing. */
  private each<T>(check: () => T): T[] {
    try {
      return [check()];
    } catch (e) {
      if (!(e instanceof ScenarioError)) throw e;
      collect(this.errors, e);
      return [];
    }
  }

  scenario(root: TreeMap): Scenario {
    let s: Scenario[] = [];
    try {
      s = this.each(() => this.resolve(root));
    } catch (e) {
      if (!(e instanceof CheckingStopped)) throw e;
      throwCollected(this.errors, true);
    }
    throwCollected(this.errors);
    return s[0]!;
  }

  private resolve(root: TreeMap): Scenario {
    const description = entry(root, 'description');
    const policiesNode = entry(root, 'policies');
    const policies = policiesNode ? this.policies(policiesNode) : undefined;
    this.hosts = asMap(entry(root, 'hosts')!).entries.flatMap((e) => this.each(() => this.host(e.key, asMap(e.value))));
    const linksNode = entry(root, 'links');
    // Steps name hosts: with a host in error, their problems would only echo it.
    throwCollected(this.errors);
    const links = linksNode
      ? asMap(linksNode).entries.map((e) => ({
          name: e.key,
          latencyNs: parseDuration(text(entry(asMap(e.value), 'latency')!))!,
        }))
      : [DEFAULT_LINK];
    this.checkLinks(asMap(entry(root, 'hosts')!), links, linksNode !== undefined);
    const stepNodes = items(entry(root, 'steps'));
    const connectResults = this.socketNames(stepNodes);
    const steps = stepNodes.flatMap((n, i) => this.each(() => this.step(asMap(n), i, connectResults)));
    return {
      file: this.file,
      name: text(entry(root, 'name')!),
      ...(description ? { description: text(description) } : {}),
      seed: num(entry(root, 'seed')!),
      ...(policies ? { policies } : {}),
      ...(this.customs.length ? { customPolicies: this.customs } : {}),
      hosts: this.hosts,
      links,
      steps,
    };
  }

  private policies(node: TreeNode): string[] {
    const seen = new Set<string>();
    const defined = customDefinitions(items(node));
    for (const item of items(node)) {
      // A custom policy object defines the policy and lists it.
      const name = item.kind === 'map' ? this.custom(item, defined).name : text(item);
      if (seen.has(name)) this.fail(item.pos, `policy "${name}" is listed twice`);
      seen.add(name);
    }
    return [...seen];
  }

  private custom(node: TreeMap, sameList: ReadonlyMap<string, { readonly base: string; readonly pos: SourcePos }>): CustomPolicySpec {
    const spec = customSpec(node, this.file, this.customs, sameList);
    this.customs.push(spec);
    return spec;
  }

  private host(name: string, node: TreeMap): Host {
    const interfaces = asMap(entry(node, 'interfaces')!).entries.map((e): Interface => {
      const m = asMap(e.value);
      const mac = entry(m, 'mac');
      return {
        name: e.key,
        ...(mac ? { mac: text(mac).toLowerCase() } : {}),
        addresses: items(entry(m, 'addresses')).map((a) => parseCidr(text(a))!),
        link: text(entry(m, 'link')!),
      };
    });
    const processes = asMap(entry(node, 'processes')!).entries.map((e) => ({
      name: e.key,
      uid: num(entry(asMap(e.value), 'uid')!),
    }));
    const sysctl = asMap(entry(node, 'sysctl')!);
    const nonlocal = entry(sysctl, 'ip_nonlocal_bind')! as { value: boolean | number };
    const promote = entry(sysctl, 'promote_secondaries')! as { value: boolean | number };
    const rangeNode = entry(sysctl, 'ip_local_port_range')!;
    const range = parsePortRange(text(rangeNode))!;
    if (range[0] > range[1]) {
      this.fail(rangeNode.pos, `ip_local_port_range "${text(rangeNode)}": the low port ${range[0]} is above the high port ${range[1]}`);
    }
    // The kernel keeps the automatic ports out of the privileged ones [net/ipv4/sysctl_net_ipv4.c
    // ipv4_local_port_range, ipv4_privileged_ports: range[0] < ip_unprivileged_port_start is -EINVAL].
    const privileged = num(entry(sysctl, 'ip_unprivileged_port_start')!);
    if (range[0] < privileged) {
      this.fail(rangeNode.pos, `ip_local_port_range "${text(rangeNode)}": the low port ${range[0]} is below ip_unprivileged_port_start ${privileged}; Linux refuses that`);
    }
    return {
      name,
      interfaces,
      processes,
      sysctl: {
        ipNonlocalBind: nonlocal.value === true || nonlocal.value === 1,
        ipLocalPortRange: range,
        ipUnprivilegedPortStart: num(entry(sysctl, 'ip_unprivileged_port_start')!),
        promoteSecondaries: promote.value === true || promote.value === 1,
        tcpRmem: parseBufferSizes(text(entry(sysctl, 'tcp_rmem')!))!,
        rpFilter: num(entry(sysctl, 'rp_filter')!) as 0 | 1 | 2,
      },
      ...(entry(node, 'routes') ? { routes: parseRoutes(name, interfaces, items(entry(node, 'routes')), (pos, msg) => this.fail(pos, msg)) } : {}),
      forward: (entry(node, 'forward') as { value: boolean }).value,
    };
  }

  private checkLinks(hostsNode: TreeMap, links: readonly Link[], declared: boolean): void {
    const names = links.map((l) => l.name);
    for (const h of hostsNode.entries) {
      for (const i of asMap(entry(asMap(h.value), 'interfaces')!).entries) {
        const linkNode = entry(asMap(i.value), 'link')!;
        const link = text(linkNode);
        if (names.includes(link)) continue;
        this.fail(
          linkNode.pos,
          declared
            ? `interface "${i.key}" of host "${h.key}" is on link "${link}", which is not declared in links; declared: ${quoteList(names)}`
            : `interface "${i.key}" of host "${h.key}" is on link "${link}", but without a links map the only link is "lan"`,
        );
      }
    }
  }

  /** Every socket name any step creates: what a connect step may expect. */
  private socketNames(steps: readonly TreeNode[]): Set<string> {
    const names = new Set<string>();
    for (const s of steps) {
      const socket = entry(asMap(s), 'socket');
      if (socket) names.add(text(socket));
    }
    return names;
  }

  private findHost(name: string, pos: SourcePos, what: string): Host {
    const host = this.hosts.find((h) => h.name === name);
    if (!host) this.fail(pos, `${what}: no host "${name}"; hosts are: ${quoteList(this.hosts.map((h) => h.name))}`);
    return host;
  }

  private findProcess(host: Host, name: string, pos: SourcePos, what: string): void {
    if (!host.processes.some((p) => p.name === name)) {
      this.fail(pos, `${what}: host "${host.name}" has no process "${name}"; its processes are: ${quoteList(host.processes.map((p) => p.name))}`);
    }
  }

  private findInterface(host: Host, name: string, pos: SourcePos, what: string): void {
    if (!host.interfaces.some((i) => i.name === name)) {
      this.fail(pos, `${what} "${name}": host "${host.name}" has no interface "${name}"; its interfaces are: ${quoteList(host.interfaces.map((i) => i.name))}`);
    }
  }

  /** A socket named by setsockopt/bind/listen/close must have been created by an earlier step. */
  private existingSocket(node: TreeNode, kind: string): SocketInfo {
    const name = text(node);
    const info = this.sockets.get(name);
    if (!info) {
      this.fail(node.pos, `${kind} names socket "${name}", which no earlier socket step creates; sockets so far: ${quoteList(this.sockets.keys())}`);
    }
    return info;
  }

  private options(node: TreeNode | undefined, host: string): SockOptions {
    if (!node) return {};
    const out: Record<string, boolean | string> = {};
    for (const e of asMap(node).entries) {
      // "" is no device (unbinding); any other name must be an interface of the socket's host.
      if ((e.key === 'SO_BINDTODEVICE' || e.key === 'IP_MULTICAST_IF') && text(e.value) !== '') {
        this.findInterface(this.findHost(host, e.value.pos, e.key), text(e.value), e.value.pos, e.key);
      }
      out[e.key] = (e.value as { value: boolean | string }).value;
    }
    // Keep the C order of OPTION_NAMES (then UDP_OPTION_NAMES), whatever order the file used.
    return Object.fromEntries([...OPTION_NAMES, ...UDP_OPTION_NAMES].filter((o) => o in out).map((o) => [o, out[o]])) as SockOptions;
  }

  private step(node: TreeMap, index: number, connectResults: ReadonlySet<string>): Step {
    const base = { index, pos: node.pos };
    const note = entry(node, 'note');
    const expectNode = entry(node, 'expect');
    const connectNode = entry(node, 'connect');
    const tcpConnect = connectNode !== undefined && connectNode.kind === 'map';
    const resultKind = tcpConnect ? 'connect' : entry(node, 'datagram') !== undefined ? 'datagram' : 'call';
    const extra = {
      ...(note ? { note: text(note) } : {}),
      ...(expectNode ? { expect: this.expectation(expectNode, connectResults, resultKind) } : {}),
    };
    const kind = ['socket', 'setsockopt', 'bind', 'listen', 'close', 'connect', 'wait', 'address', 'join', 'leave', 'datagram']
      .find((k) => entry(node, k) !== undefined && !(k === 'address' && entry(node, 'bind') !== undefined))!;
    const kindNode = entry(node, kind)!;
    switch (kind) {
      case 'socket': {
        const name = text(kindNode);
        const earlier = this.sockets.get(name);
        if (earlier) this.fail(kindNode.pos, `socket "${name}" already exists (created at line ${earlier.pos.line})`);
        if ((CONNECT_OUTCOMES as readonly string[]).includes(name)) {
          this.fail(kindNode.pos, `socket name "${name}" is reserved: it is a connect outcome`);
        }
        const procNode = entry(node, 'process')!;
        const [hostName, procName] = text(procNode).split('/') as [string, string];
        const family = text(entry(node, 'family')!) as 'inet' | 'inet6';
        const typeNode = entry(node, 'type');
        const type = typeNode ? (text(typeNode) as 'tcp' | 'udp') : 'tcp';
        // Declared even if its process is wrong: the later steps on it then report only their own problems.
        this.sockets.set(name, { host: hostName, family, type, pos: kindNode.pos });
        if (type === 'udp' && (DATAGRAM_OUTCOMES as readonly string[]).includes(name)) {
          this.fail(kindNode.pos, `socket name "${name}" is reserved: it is a datagram outcome`);
        }
        // "a+b" is the expectation that each of a and b received a copy.
        if (type === 'udp' && name.includes('+')) this.fail(kindNode.pos, `UDP socket name "${name}" has a "+", which datagram expectations use to join receivers ("a+b"); choose a name without it`);
        const host = this.findHost(hostName, procNode.pos, `process "${text(procNode)}"`);
        this.findProcess(host, procName, procNode.pos, `process "${text(procNode)}"`);
        const options = this.options(entry(node, 'options'), hostName);
        return { ...base, kind, socket: name, host: hostName, process: procName, family, ...(typeNode ? { type } : {}), options, ...extra };
      }
      case 'setsockopt': {
        const info = this.existingSocket(kindNode, kind);
        return { ...base, kind, socket: text(kindNode), options: this.options(entry(node, 'options'), info.host), ...extra };
      }
      case 'bind': {
        const info = this.existingSocket(kindNode, kind);
        const addrNode = entry(node, 'address')!;
        const address = parseEndpoint(text(addrNode))!;
        this.checkFamily(address, info, text(kindNode), text(addrNode), addrNode.pos);
        return { ...base, kind, socket: text(kindNode), address, ...extra };
      }
      case 'listen': {
        const info = this.existingSocket(kindNode, kind);
        if (info.type === 'udp') {
          this.fail(kindNode.pos, `listen names UDP socket "${text(kindNode)}" (line ${info.pos.line}): listen(2) is for stream sockets (a datagram socket gets EOPNOTSUPP); a UDP socket receives once bound`);
        }
        return { ...base, kind, socket: text(kindNode), backlog: num(entry(node, 'backlog')!), ...extra };
      }
      case 'close':
        this.existingSocket(kindNode, kind);
        return { ...base, kind, socket: text(kindNode), ...extra };
      case 'connect': {
        const toNode = entry(node, 'to');
        if (kindNode.kind === 'map') {
          if (toNode) this.fail(entry(node, 'to')!.pos, 'a TCP connect step gives "to" inside its map (connect: {from, to}); "to" beside "connect" is for connect(2) on a UDP socket (connect: NAME)');
          return { ...base, ...this.connect(asMap(kindNode)), ...extra };
        }
        const info = this.udpSocket(kindNode, 'connect');
        if (!toNode) this.fail(node.pos, `connect on UDP socket "${text(kindNode)}" needs "to: ADDR:PORT" (the peer)`);
        const to = parseEndpoint(text(toNode))!;
        this.checkFamily(to, info, text(kindNode), text(toNode), toNode.pos, 'connect address');
        return { ...base, kind: 'udp-connect', socket: text(kindNode), to, ...extra };
      }
      case 'join':
      case 'leave': {
        const info = this.udpSocket(kindNode, kind);
        const groupNode = entry(node, 'group')!;
        const group = parseIp(text(groupNode))!;
        const wire = isV4Mapped(group) ? v4FromMapped(group) : group;
        if (!isMulticast(wire)) this.fail(groupNode.pos, `${kind} group "${text(groupNode)}" is not a multicast address (224.0.0.0/4 or ff00::/8)`);
        // An AF_INET6 socket may join an IPv4 group (IP_ADD_MEMBERSHIP at SOL_IP); an AF_INET socket has no IPv6 options.
        if (info.family === 'inet' && wire.family === 6) this.fail(groupNode.pos, `${kind} group "${text(groupNode)}" is IPv6 but socket "${text(kindNode)}" is inet (IPv4)`);
        const ifNode = entry(node, 'interface');
        if (ifNode) this.findInterface(this.findHost(info.host, ifNode.pos, kind), text(ifNode), ifNode.pos, 'interface');
        return { ...base, kind, socket: text(kindNode), group: wire, ...(ifNode ? { interface: text(ifNode) } : {}), ...extra };
      }
      case 'datagram':
        return { ...base, ...this.datagram(asMap(kindNode)), ...extra };
      case 'wait':
        return { ...base, kind, durationNs: parseDuration(text(kindNode))!, ...extra };
      default: {
        const m = asMap(kindNode);
        const hostNode = entry(m, 'host')!;
        const ifNode = entry(m, 'interface')!;
        const host = this.findHost(text(hostNode), hostNode.pos, 'address step');
        this.findInterface(host, text(ifNode), ifNode.pos, 'interface');
        const add = entry(m, 'add');
        const del = entry(m, 'del');
        const cidr = (n: TreeNode | undefined): Cidr | undefined => (n ? parseCidr(text(n))! : undefined);
        return {
          ...base,
          kind: 'address',
          host: host.name,
          interface: text(ifNode),
          ...(add ? { add: cidr(add) } : {}),
          ...(del ? { del: cidr(del) } : {}),
          ...extra,
        };
      }
    }
  }

  private checkFamily(address: Endpoint, info: SocketInfo, socket: string, given: string, pos: SourcePos, label = 'bind address'): void {
    if (info.family === 'inet' && address.addr.family === 6) {
      this.fail(pos, `${label} "${given}" is IPv6 but socket "${socket}" is inet (IPv4)`);
    }
    if (info.family === 'inet6' && address.addr.family === 4) {
      this.fail(pos, `${label} "${given}" is IPv4 but socket "${socket}" is inet6; write it v4-mapped: "[::ffff:${address.addr.text}]:${address.port}"`);
    }
  }

  /** A socket a UDP-only step names: created earlier, with type: udp. */
  private udpSocket(node: TreeNode, kind: string): SocketInfo {
    const info = this.existingSocket(node, kind);
    if (info.type !== 'udp') {
      this.fail(node.pos, `${kind} names TCP socket "${text(node)}" (line ${info.pos.line}); ${kind === 'connect' ? 'connect: NAME is connect(2) on a UDP socket (a TCP client is connect: {from, to})' : `${kind} is for UDP sockets`}: give its socket step "type: udp"`);
    }
    return info;
  }

  private datagram(m: TreeMap): Omit<Extract<Step, { kind: 'datagram' }>, 'index' | 'pos'> {
    const fromNode = entry(m, 'from');
    const socketNode = entry(m, 'socket');
    const toNode = entry(m, 'to')!;
    const to = parseEndpoint(text(toNode))!;
    const wireFamily = (a: IpAddr): number => (isV4Mapped(a) ? 4 : a.family);
    let hostName: string;
    let procName: string | undefined;
    const sourceNode = entry(m, 'source');
    if (socketNode) {
      const info = this.udpSocket(socketNode, 'datagram socket');
      hostName = info.host;
      this.checkFamily(to, info, text(socketNode), text(toNode), toNode.pos, 'datagram address');
      if (sourceNode) this.fail(sourceNode.pos, `datagram source is for a fresh socket (from: HOST); socket "${text(socketNode)}" sends from its own address (bind it first)`);
    } else {
      [hostName, procName] = text(fromNode!).split('/') as [string, string | undefined];
      const host = this.findHost(hostName, fromNode!.pos, `datagram from "${text(fromNode!)}"`);
      if (procName !== undefined) this.findProcess(host, procName, fromNode!.pos, `datagram from "${text(fromNode!)}"`);
    }
    const source = sourceNode ? parseSource(text(sourceNode))! : undefined;
    if (source && wireFamily(source.addr) !== wireFamily(to.addr)) {
      this.fail(sourceNode!.pos, `datagram source "${text(sourceNode!)}" is IPv${wireFamily(source.addr)} but the destination "${text(toNode)}" is IPv${wireFamily(to.addr)}`);
    }
    const ifNode = entry(m, 'interface');
    if (ifNode) this.findInterface(this.findHost(hostName, ifNode.pos, 'datagram interface'), text(ifNode), ifNode.pos, 'interface');
    const data = entry(m, 'data');
    const queryNode = entry(m, 'query');
    const qtypeNode = entry(m, 'qtype');
    if (queryNode && data) this.fail(queryNode.pos, 'datagram query and data both give the payload: a query step sends a DNS query for the name, so leave data out');
    if (qtypeNode && !queryNode) this.fail(qtypeNode.pos, `datagram qtype "${text(qtypeNode)}" needs query: NAME (the name the DNS query asks for)`);
    return {
      kind: 'datagram',
      ...(fromNode ? { from: hostName } : {}),
      ...(procName !== undefined ? { fromProcess: procName } : {}),
      ...(socketNode ? { socket: text(socketNode) } : {}),
      to,
      ...(source ? { source } : {}),
      ...(data ? { data: text(data) } : {}),
      ...(queryNode ? { query: { name: text(queryNode), qtype: (qtypeNode ? text(qtypeNode) : 'A') as DnsQtype } } : {}),
      count: num(entry(m, 'count')!),
      reply: (entry(m, 'reply') as { value: boolean }).value,
      ...(ifNode ? { interface: text(ifNode) } : {}),
    };
  }

  private connect(m: TreeMap): Omit<Extract<Step, { kind: 'connect' }>, 'index' | 'pos'> {
    const fromNode = entry(m, 'from')!;
    const [hostName, procName] = text(fromNode).split('/') as [string, string | undefined];
    const host = this.findHost(hostName, fromNode.pos, `connect from "${text(fromNode)}"`);
    if (procName !== undefined) this.findProcess(host, procName, fromNode.pos, `connect from "${text(fromNode)}"`);
    const toNode = entry(m, 'to')!;
    const to = parseEndpoint(text(toNode))!;
    const sourceNode = entry(m, 'source');
    const source = sourceNode ? parseSource(text(sourceNode))! : undefined;
    // A v4-mapped address is IPv4 on the wire.
    const wireFamily = (a: IpAddr): number => (isV4Mapped(a) ? 4 : a.family);
    if (source && wireFamily(source.addr) !== wireFamily(to.addr)) {
      this.fail(sourceNode!.pos, `connect source "${text(sourceNode!)}" is IPv${wireFamily(source.addr)} but the destination "${text(toNode)}" is IPv${wireFamily(to.addr)}`);
    }
    const send = entry(m, 'send');
    return {
      kind: 'connect',
      from: hostName,
      ...(procName !== undefined ? { fromProcess: procName } : {}),
      to,
      ...(source ? { source } : {}),
      ...(send ? { send: text(send) } : {}),
      close: text(entry(m, 'close')!) as 'client' | 'server' | 'none',
      count: num(entry(m, 'count')!),
    };
  }

  private expectation(node: TreeNode, connectResults: ReadonlySet<string>, resultKind: 'connect' | 'datagram' | 'call'): Expectation {
    const isConnect = resultKind === 'connect';
    const values = (n: TreeNode): string[] => {
      const list = n.kind === 'list' ? n.items : [n];
      if (resultKind === 'datagram') return list.map((v) => this.datagramResult(v, connectResults));
      for (const v of list) {
        const result = text(v);
        // A UDP connect is a socket call: "ok" or an errno.
        if (resultKind === 'call' && !['ok', ...ERRNO_NAMES].includes(result)) {
          this.fail(v.pos, `expected result "${result}" of connect(2) on a UDP socket is neither "ok" nor an errno (${ERRNO_NAMES.join(', ')})`);
        }
        // Socket-call results were checked by the schema's enum; connect results name sockets.
        // An errno too: a connect with `source` binds first (EADDRINUSE, EACCES), or finds no free port (EADDRNOTAVAIL).
        if (isConnect && !connectResults.has(result) && !(CONNECT_OUTCOMES as readonly string[]).includes(result)
          && !(ERRNO_NAMES as readonly string[]).includes(result)) {
          this.fail(v.pos, `expected connect result "${result}" is neither a socket of this scenario (${quoteList(connectResults)}) nor one of: ${CONNECT_OUTCOMES.join(', ')} (or an errno of the client's bind)`);
        }
      }
      return list.map(text);
    };
    if (node.kind !== 'map') return { byPolicy: new Map(), fallback: values(node), pos: node.pos };
    const byPolicy = new Map<string, readonly string[]>();
    let fallback: string[] | undefined;
    for (const e of node.entries) {
      if (e.key === 'default') fallback = values(e.value);
      else byPolicy.set(e.key, values(e.value));
    }
    return { byPolicy, ...(fallback ? { fallback } : {}), pos: node.pos };
  }

  /**
   * One expected datagram result: a socket, "a+b" (each a copy; kept in sorted order, as the
   * engine reports it), an outcome, or an errno of the send.
   */
  private datagramResult(v: TreeNode, sockets: ReadonlySet<string>): string {
    const result = text(v);
    if ((DATAGRAM_OUTCOMES as readonly string[]).includes(result) || (ERRNO_NAMES as readonly string[]).includes(result)) return result;
    const names = result.split('+');
    for (const n of names) {
      if (n === '' || !sockets.has(n)) {
        this.fail(v.pos, `expected datagram result "${result}": ${n === '' ? 'an empty name' : `"${n}" is not a socket of this scenario (${quoteList(sockets)})`}; expected a socket name, names joined by "+" (each received a copy), one of: ${DATAGRAM_OUTCOMES.join(', ')}, or an errno of the send`);
      }
    }
    if (new Set(names).size !== names.length) this.fail(v.pos, `expected datagram result "${result}" names a socket twice; a socket receives one copy of a datagram`);
    return [...names].sort().join('+');
  }
}

// The scenario format (version 1, docs/scenario-format.md) written once, as data.
// Both the structural validator below and the JSON Schema (write-schema.ts) are derived from
// SCENARIO_SCHEMA, so the two cannot disagree. Cross-references (a bind naming an earlier
// socket, a process naming a declared host) are checked afterwards in load.ts.

import { parseCidr, parseEndpoint, parseIp, type IpAddr } from '../emu/addr.js';
import { BUILTIN_POLICIES } from '../emu/policy/names.js';
import { RULE_SPECS } from '../emu/policy/rules.js';
import {
  CONNECT_OUTCOMES,
  DATAGRAM_OUTCOMES,
  DNS_QTYPES,
  ERRNO_NAMES,
  excerpt,
  OPTION_NAMES,
  UDP_OPTION_NAMES,
  ScenarioError,
  throwCollected,
  CheckingStopped,
  collect,
  type SourcePos,
} from './types.js';

// ---------------------------------------------------------------------------------------------
// The input tree: YAML reduced to what the format uses, with 1-based positions.

export type TreeNode = TreeScalar | TreeList | TreeMap;
export interface TreeScalar {
  readonly kind: 'scalar';
  readonly value: string | number | boolean | null;
  readonly pos: SourcePos;
  /** How a number written as a float was written ("7.0", "1e3", "!!float 7"): an integer field refuses it by that name. */
  readonly float?: string;
}
export interface TreeList {
  readonly kind: 'list';
  readonly items: readonly TreeNode[];
  readonly pos: SourcePos;
}
export interface TreeEntry {
  readonly key: string;
  readonly keyPos: SourcePos;
  readonly value: TreeNode;
}
export interface TreeMap {
  readonly kind: 'map';
  readonly entries: readonly TreeEntry[];
  readonly pos: SourcePos;
}

// ---------------------------------------------------------------------------------------------
// The schema DSL.

export type FormatName =
  | 'name'
  | 'device'
  | 'line'
  | 'process-ref'
  | 'host-ref'
  | 'cidr'
  | 'route-to'
  | 'ip'
  | 'endpoint'
  | 'source'
  | 'duration'
  | 'mac-or-arp'
  | 'port-range'
  | 'buffer-sizes'
  | 'policy'
  | 'policy-or-default'
  | 'dns-name';

interface Described {
  readonly description?: string;
}
export interface StringSchema extends Described {
  readonly type: 'string';
  readonly format?: FormatName;
  /** How a format error names the value, e.g. "bind address"; default: the path. */
  readonly label?: string;
}
export interface IntegerSchema extends Described {
  readonly type: 'integer';
  readonly min: number;
  readonly max: number;
  /** Why the maximum is what it is, said when a value passes it. */
  readonly maxWhy?: string;
}
export interface BooleanSchema extends Described {
  readonly type: 'boolean';
}
export interface EnumSchema extends Described {
  readonly type: 'enum';
  readonly values: readonly string[];
}
export interface ListSchema extends Described {
  readonly type: 'list';
  readonly items: Schema;
  readonly minItems?: number;
}
/** A map from names the user chooses (hosts, links, expect's policies) to values. */
export interface MapSchema extends Described {
  readonly type: 'map';
  readonly keyFormat: FormatName;
  /** How a key format error names the key, e.g. "host name". */
  readonly keyLabel: string;
  readonly values: Schema;
  readonly minEntries?: number;
}
export interface Field {
  readonly schema: Schema;
  readonly required?: boolean;
  /** Filled in by the validator when the key is absent (and validated like a given value). */
  readonly default?: unknown;
}
/** A map with known keys. */
export interface ObjectSchema extends Described {
  readonly type: 'object';
  /** What the object is called in messages: "step", "interface", ... */
  readonly noun: string;
  readonly fields: Readonly<Record<string, Field>>;
  /** Exactly one of these keys must be present. */
  readonly exactlyOneOf?: readonly string[];
}
/** An object whose kind is named by which one of the variants' keys it has (steps). */
export interface KeyedUnionSchema extends Described {
  readonly type: 'keyed';
  readonly noun: string;
  /** Each variant's fields include its kind key. */
  readonly variants: Readonly<Record<string, ObjectSchema>>;
}
export interface AnyOfSchema extends Described {
  readonly type: 'anyOf';
  readonly options: readonly Schema[];
  /** What a message says was expected, e.g. "a boolean or 0/1". */
  readonly expected: string;
}
export type Schema =
  | StringSchema
  | IntegerSchema
  | BooleanSchema
  | EnumSchema
  | ListSchema
  | MapSchema
  | ObjectSchema
  | KeyedUnionSchema
  | AnyOfSchema;

/** What formats may depend on besides the text. */
export interface FormatContext {
  /** Policy names a scenario may list and expect on. */
  readonly policies: readonly string[];
}

interface Format {
  /** Completes `LABEL "TEXT" is not ...`. */
  readonly is: string;
  readonly test: (text: string, ctx: FormatContext) => boolean;
  /** Overrides the usual message. */
  readonly problem?: (label: string, text: string, ctx: FormatContext) => string;
  /** The JSON Schema keywords that approximate the format. */
  readonly json: (ctx: FormatContext) => Record<string, unknown>;
}

const NAME_RE = /^[^/\s]+$/;
const DURATION_RE = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)$/;
const MAC_RE = /^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$/;
const BUFFER_SIZES_RE = /^(\d{1,10})\s+(\d{1,10})\s+(\d{1,10})$/;
const PORT_RANGE_RE = /^(\d{1,5})\s+(\d{1,5})$/;
const NS_PER_UNIT: Readonly<Record<string, number>> = {
  ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9,
};

/** "500ms" → 500000000; null when the text is not a duration of whole nanoseconds. */
export function parseDuration(text: string): number | null {
  const m = DURATION_RE.exec(text);
  if (!m) return null;
  const ns = Number(m[1]) * NS_PER_UNIT[m[2]!]!;
  const rounded = Math.round(ns);
  // Decimal fractions are inexact in binary; accept what is within rounding of a whole ns.
  if (Math.abs(ns - rounded) > 1e-6 * Math.max(1, ns) || !Number.isSafeInteger(rounded) || rounded > MAX_DURATION_NS) return null;
  return rounded;
}

/** "32768 60999" → [32768, 60999]; null unless two ports in 1..65535 (order is checked later). */
export function parsePortRange(text: string): [number, number] | null {
  const m = PORT_RANGE_RE.exec(text);
  if (!m) return null;
  const low = Number(m[1]);
  const high = Number(m[2]);
  const ok = (p: number): boolean => p >= 1 && p <= 65535;
  return ok(low) && ok(high) ? [low, high] : null;
}

/**
 * net.ipv4.tcp_rmem's "MIN DEFAULT MAX" → three byte counts; null unless each is 1..2^31-1, as the
 * kernel's proc_dointvec_minmax with extra1 = SYSCTL_ONE takes them [net/ipv4/sysctl_net_ipv4.c tcp_rmem].
 */
export function parseBufferSizes(text: string): [number, number, number] | null {
  const m = BUFFER_SIZES_RE.exec(text);
  if (!m) return null;
  const v = [Number(m[1]), Number(m[2]), Number(m[3])] as [number, number, number];
  return v.every((x) => x >= 1 && x <= 0x7fffffff) ? v : null;
}

/** "10.0.0.1" or "10.0.0.1:5000" or "[fd00::1]:5000" or "fd00::1". */
export function parseSource(text: string): { addr: IpAddr; port?: number } | null {
  const ep = parseEndpoint(text);
  if (ep) return { addr: ep.addr, port: ep.port };
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const addr = parseIp(bare);
  return addr ? { addr } : null;
}

/** The longest duration: the virtual clock counts nanoseconds in a double, exact up to 2^53 - 1 (about 104 days). */
const MAX_DURATION_NS = Number.MAX_SAFE_INTEGER;

/** Why a text that DURATION_RE may match is not a duration, in words. */
function durationProblem(label: string, s: string): string {
  const m = DURATION_RE.exec(s);
  const quoted = excerpt(JSON.stringify(s));
  if (!m) return `${label} ${quoted} is not ${FORMATS.duration.is}`;
  const ns = Number(m[1]) * NS_PER_UNIT[m[2]!]!;
  if (ns > MAX_DURATION_NS) {
    return `${label} ${quoted} is too long: durations are counted in nanoseconds up to 2^53 - 1, about 104 days (${Math.floor(MAX_DURATION_NS / 86400e9)}d = ${Math.floor(MAX_DURATION_NS / 3600e9)}h)`;
  }
  return `${label} ${quoted} is not a whole number of nanoseconds`;
}

/**
 * An address written with an IPv6 zone id ("fe80::1%eth0"): the message says why scenarios have
 * none; undefined when the text has no zone or is not an address without it either.
 */
function zoneProblem(label: string, s: string, test: (t: string) => boolean): string | undefined {
  const zone = /%[^\]/]*/.exec(s);
  if (!zone || !test(s.replace(zone[0], ''))) return undefined;
  return `${label} ${excerpt(JSON.stringify(s))} has an IPv6 zone id (${excerpt(zone[0], 20, false)}): scenarios write none; a link-local address belongs to the interface it is listed under, and a socket picks its interface with SO_BINDTODEVICE`;
}

/** The usual message of a format, or the zone-id one. */
const addressProblem = (is: string, test: (t: string) => boolean) => (label: string, s: string): string =>
  zoneProblem(label, s, test) ?? `${label} ${excerpt(JSON.stringify(s))} is not ${is}`;

const V4_OR_BRACKETED_V6 = String.raw`(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\])`;

export const FORMATS: Readonly<Record<FormatName, Format>> = {
  name: {
    is: 'a name (no spaces or "/")',
    test: (s) => NAME_RE.test(s),
    json: () => ({ pattern: NAME_RE.source }),
  },
  device: {
    is: 'an interface name, or "" for none',
    test: (s) => s === '' || NAME_RE.test(s),
    json: () => ({ pattern: `^(${NAME_RE.source.slice(1, -1)})?$` }),
  },
  line: {
    is: 'a single line',
    test: (s) => !/[\r\n]/.test(s),
    json: () => ({ pattern: String.raw`^[^\r\n]*$` }),
  },
  'process-ref': {
    is: 'HOST/PROCESS',
    test: (s) => /^[^/\s]+\/[^/\s]+$/.test(s),
    json: () => ({ pattern: String.raw`^[^/\s]+/[^/\s]+$` }),
  },
  'host-ref': {
    is: 'HOST or HOST/PROCESS',
    test: (s) => /^[^/\s]+(\/[^/\s]+)?$/.test(s),
    json: () => ({ pattern: String.raw`^[^/\s]+(/[^/\s]+)?$` }),
  },
  cidr: {
    is: 'an IPv4 or IPv6 address with an optional /prefix',
    test: (s) => parseCidr(s) !== null,
    problem: (label, s) => addressProblem('an IPv4 or IPv6 address with an optional /prefix', (t) => parseCidr(t) !== null)(label, s),
    json: () => ({ pattern: String.raw`^[0-9a-fA-F:.]+(/\d{1,3})?$` }),
  },
  'route-to': {
    is: 'a destination prefix (an IPv4 or IPv6 address with an optional /prefix) or "default"',
    test: (s) => s === 'default' || parseCidr(s) !== null,
    problem: (label, s) => addressProblem('a destination prefix (an IPv4 or IPv6 address with an optional /prefix) or "default"', (t) => parseCidr(t) !== null)(label, s),
    json: () => ({ pattern: String.raw`^(default|[0-9a-fA-F:.]+(/\d{1,3})?)$` }),
  },
  ip: {
    is: 'an IPv4 or IPv6 address',
    test: (s) => parseIp(s) !== null,
    problem: (label, s) => addressProblem('an IPv4 or IPv6 address', (t) => parseIp(t) !== null)(label, s),
    json: () => ({ pattern: String.raw`^[0-9a-fA-F:.]+$` }),
  },
  endpoint: {
    is: 'an IPv4 or IPv6 address with a port',
    test: (s) => parseEndpoint(s) !== null,
    problem: (label, s) => addressProblem('an IPv4 or IPv6 address with a port', (t) => parseEndpoint(t) !== null)(label, s),
    json: () => ({ pattern: `^${V4_OR_BRACKETED_V6}:\\d{1,5}$` }),
  },
  source: {
    is: 'an IPv4 or IPv6 address with an optional port',
    test: (s) => parseSource(s) !== null,
    problem: (label, s) => addressProblem('an IPv4 or IPv6 address with an optional port', (t) => parseSource(t) !== null)(label, s),
    json: () => ({ pattern: `^(${V4_OR_BRACKETED_V6}(:\\d{1,5})?|[0-9a-fA-F:.]+)$` }),
  },
  duration: {
    is: 'a duration such as 250ns, 100us, 500ms, 61s, 4m or 1h',
    test: (s) => parseDuration(s) !== null,
    problem: (label, s) => durationProblem(label, s),
    json: () => ({ pattern: DURATION_RE.source }),
  },
  'mac-or-arp': {
    is: 'a MAC address like 02:00:00:00:00:01, or "arp"',
    test: (s) => s === 'arp' || MAC_RE.test(s),
    json: () => ({ pattern: `^(arp|${MAC_RE.source.slice(1, -1)})$` }),
  },
  'port-range': {
    is: 'two ports in 1..65535, "LOW HIGH"',
    test: (s) => parsePortRange(s) !== null,
    json: () => ({ pattern: PORT_RANGE_RE.source }),
  },
  'buffer-sizes': {
    is: 'three byte counts in 1..2147483647, "MIN DEFAULT MAX"',
    test: (s) => parseBufferSizes(s) !== null,
    json: () => ({ pattern: BUFFER_SIZES_RE.source }),
  },
  'dns-name': {
    is: 'a domain name: dot-separated labels of 1 to 63 letters, digits, "-" or "_", at most 253 characters, an optional final dot',
    test: (s) => DNS_NAME_RE.test(s) && s.replace(/\.$/, '').length <= 253,
    json: () => ({ pattern: DNS_NAME_RE.source, maxLength: 254 }),
  },
  policy: {
    is: 'a known policy',
    test: (s, ctx) => ctx.policies.includes(s),
    problem: (label, s, ctx) => `${label} ${excerpt(JSON.stringify(s))} is not a known policy; known policies: ${ctx.policies.join(', ')}`,
    json: (ctx) => ({ enum: [...ctx.policies] }),
  },
  'policy-or-default': {
    is: 'a known policy or "default"',
    test: (s, ctx) => s === 'default' || ctx.policies.includes(s),
    problem: (label, s, ctx) =>
      `${label} ${excerpt(JSON.stringify(s))} is not a known policy or "default"; known policies: ${ctx.policies.join(', ')}`,
    json: (ctx) => ({ enum: [...ctx.policies, 'default'] }),
  },
};

// ---------------------------------------------------------------------------------------------
// The format itself.

/** A domain name as a query asks it (RFC 1035 §2.3.1, with "_" for SRV-style labels): labels of 1..63 bytes, a root dot optional. */
const DNS_NAME_RE = /^([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

const str = (description: string, format?: FormatName, label?: string): StringSchema => ({
  type: 'string', description, ...(format ? { format } : {}), ...(label ? { label } : {}),
});

/** An expected result, or a list of acceptable ones, for every policy or per policy. */
function expectation(value: Schema, what: string): AnyOfSchema {
  const one: AnyOfSchema = {
    type: 'anyOf',
    expected: `${what}, or a list of them`,
    options: [value, { type: 'list', items: value, minItems: 1 }],
  };
  return {
    type: 'anyOf',
    description:
      'Expected result: one value (or a list meaning any of them) for every policy, ' +
      'or a map of policy name (or "default") to such a value.',
    expected: `${what}, a list of them, or a map of policy name to them`,
    options: [
      ...one.options,
      {
        type: 'map', keyFormat: 'policy-or-default', keyLabel: 'expect key', values: one,
        description: 'Per-policy expectations; "default" covers policies without an entry.',
      },
    ],
  };
}

const SOCKET_CALL_RESULT: EnumSchema = {
  type: 'enum', values: ['ok', ...ERRNO_NAMES], description: '"ok" or the errno the call fails with',
};
const CONNECT_RESULT: StringSchema = str(
  `The name of the socket that accepts the connection, or one of: ${CONNECT_OUTCOMES.join(', ')}, or the errno of the client's bind (a connect with source)`,
  'name',
  'expected connect result',
);

const DATAGRAM_RESULT: StringSchema = str(
  `The socket that received each datagram; "a+b" when each of a and b received a copy; one of: ${DATAGRAM_OUTCOMES.join(', ')}; or the errno of the send`,
  'name',
  'expected datagram result',
);

/** What the UDP options mean, for the JSON Schema's descriptions. */
const UDP_OPTION_TEXT: Readonly<Record<(typeof UDP_OPTION_NAMES)[number], string>> = {
  SO_BROADCAST: 'UDP: may send to a broadcast address (else the send fails with EACCES)',
  IP_MULTICAST_LOOP: 'UDP: the host\'s own IPv4 multicast comes back to its sockets (default true)',
  IPV6_MULTICAST_LOOP: 'UDP: the host\'s own IPv6 multicast comes back to its sockets (default true)',
  IP_MULTICAST_ALL: 'UDP, Linux only: receive every group some socket of the host joined, not only its own (default true)',
  IP_MULTICAST_IF: 'UDP: the interface the socket\'s multicast leaves by',
  IP_PKTINFO: 'UDP: a reply leaves from the address the datagram came to',
  IPV6_RECVPKTINFO: 'UDP, IPv6: a reply leaves from the address the datagram came to',
  IP_RECVDSTADDR: 'UDP, BSD: the server learns the address the datagram came to; where the OS has IP_SENDSRCADDR (FreeBSD) its reply leaves from it. ENOPROTOOPT where the OS lacks it (Linux)',
};

const OPTIONS: ObjectSchema = {
  type: 'object',
  noun: 'options',
  description: 'Socket options by their C names.',
  fields: Object.fromEntries([
    ...OPTION_NAMES.map((o): [string, Field] => [
      o,
      {
        schema: o === 'SO_BINDTODEVICE'
          ? str('Interface name of the socket\'s host; "" unbinds (setsockopt with an empty name)', 'device', 'SO_BINDTODEVICE')
          : { type: 'boolean', description: o },
      },
    ]),
    ...UDP_OPTION_NAMES.map((o): [string, Field] => [
      o,
      { schema: o === 'IP_MULTICAST_IF' ? str(`${UDP_OPTION_TEXT[o]}; "" for the route's choice`, 'device', o) : { type: 'boolean', description: UDP_OPTION_TEXT[o] } },
    ]),
  ]),
};

/** The most connections one connect step opens: one per source port of the client toward one destination. */
export const MAX_CONNECT_COUNT = 65535;

const NOTE: Field = { schema: str('Free text shown with the step') };
const SOCKET_NAME = (what: string): Field => ({ schema: str(what, 'name', 'socket name'), required: true });

function step(
  kind: string,
  description: string,
  fields: Record<string, Field>,
  expect: Schema | null,
): ObjectSchema {
  return {
    type: 'object',
    noun: `${kind} step`,
    description,
    fields: { ...fields, ...(expect ? { expect: { schema: expect } } : {}), note: NOTE },
  };
}

const socketCallExpect = expectation(SOCKET_CALL_RESULT, '"ok" or an errno name');

const STEP: KeyedUnionSchema = {
  type: 'keyed',
  noun: 'step',
  description: 'One step; exactly one of its keys names its kind.',
  variants: {
    socket: step('socket', 'Creates a TCP (or, with type: udp, a UDP) socket owned by a process.', {
      socket: SOCKET_NAME('Name of the new socket, unique in the scenario'),
      process: { schema: str('Owner, HOST/PROCESS', 'process-ref', 'process'), required: true },
      family: { schema: { type: 'enum', values: ['inet', 'inet6'], description: 'Address family' }, default: 'inet' },
      type: { schema: { type: 'enum', values: ['tcp', 'udp'], description: 'tcp (a stream socket, the default) or udp (a datagram socket)' } },
      options: { schema: OPTIONS },
    }, socketCallExpect),
    setsockopt: step('setsockopt', 'Sets options on an existing socket.', {
      setsockopt: SOCKET_NAME('The socket'),
      options: { schema: OPTIONS, required: true },
    }, socketCallExpect),
    bind: step('bind', 'bind(2).', {
      bind: SOCKET_NAME('The socket'),
      address: { schema: str('ADDR:PORT, e.g. 0.0.0.0:80 or [::]:80; port 0 is ephemeral', 'endpoint', 'bind address'), required: true },
    }, socketCallExpect),
    listen: step('listen', 'listen(2), with auto-bind.', {
      listen: SOCKET_NAME('The socket'),
      backlog: { schema: { type: 'integer', min: 0, max: 2147483647, description: 'listen backlog' }, default: 128 },
    }, socketCallExpect),
    close: step('close', 'close(2).', {
      close: SOCKET_NAME('The socket'),
    }, socketCallExpect),
    connect: step('connect', 'A client opens TCP connections (a map), or connect(2) on a UDP socket (a socket name, with to).', {
      connect: {
        required: true,
        schema: { type: 'anyOf', expected: 'a map {from, to, ...} (TCP connections) or a UDP socket\'s name', options: [{
          type: 'object',
          noun: 'connect',
          description: 'The connection to open.',
          fields: {
            from: { schema: str('Client HOST or HOST/PROCESS', 'host-ref', 'connect from'), required: true },
            to: { schema: str('Destination ADDR:PORT', 'endpoint', 'connect address'), required: true },
            source: { schema: str('Source ADDR or ADDR:PORT', 'source', 'connect source') },
            send: { schema: str('Data the client sends') },
            close: {
              schema: { type: 'enum', values: ['client', 'server', 'none'], description: 'Who closes first; none leaves it established' },
              default: 'client',
            },
            count: {
              schema: {
                type: 'integer', min: 1, max: MAX_CONNECT_COUNT, description: 'Number of connections (at most 65535: one per source port)',
                maxWhy: 'one client has at most 65535 source ports toward one destination, so more connections in one step cannot all be distinct; '
                  + 'a larger count is a typo or would only repeat port exhaustion (each connect past it fails with EADDRNOTAVAIL)',
              },
              default: 1,
            },
          },
        }, str('The UDP socket to connect', 'name', 'socket name')] },
      },
      to: { schema: str('UDP connect: the peer ADDR:PORT', 'endpoint', 'connect address') },
    }, expectation(CONNECT_RESULT, 'a socket name or connect outcome')),
    wait: step('wait', 'Advances the virtual clock.', {
      wait: { schema: str('How long, e.g. 500ms, 61s, 4m', 'duration', 'wait duration'), required: true },
    }, socketCallExpect),
    address: step('address', 'An alias appears or disappears.', {
      address: {
        required: true,
        schema: {
          type: 'object',
          noun: 'address step',
          description: 'Which interface, and the CIDR to add or delete.',
          fields: {
            host: { schema: str('Host name', 'name', 'host'), required: true },
            interface: { schema: str('Interface name', 'name', 'interface'), required: true },
            add: { schema: str('CIDR to add', 'cidr', 'address to add') },
            del: { schema: str('CIDR to delete', 'cidr', 'address to delete') },
          },
          exactlyOneOf: ['add', 'del'],
        },
      },
    }, socketCallExpect),
    join: step('join', 'IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP on a UDP socket.', {
      join: SOCKET_NAME('The UDP socket'),
      group: { schema: str('The multicast group, e.g. 224.0.0.251 or ff02::fb', 'ip', 'group'), required: true },
      interface: { schema: str('Interface of the socket\'s host; default: the interface of the route to the group', 'name', 'interface') },
    }, socketCallExpect),
    leave: step('leave', 'IP_DROP_MEMBERSHIP / IPV6_LEAVE_GROUP on a UDP socket.', {
      leave: SOCKET_NAME('The UDP socket'),
      group: { schema: str('The multicast group', 'ip', 'group'), required: true },
      interface: { schema: str('Interface of the socket\'s host; default: the interface of the route to the group', 'name', 'interface') },
    }, socketCallExpect),
    datagram: step('datagram', 'UDP datagrams from a host (a fresh socket) or from a UDP socket, to a unicast, broadcast or multicast address.', {
      datagram: {
        required: true,
        schema: {
          type: 'object',
          noun: 'datagram',
          description: 'Who sends what to where.',
          fields: {
            from: { schema: str('Sender HOST or HOST/PROCESS (a fresh unconnected socket)', 'host-ref', 'datagram from') },
            socket: { schema: str('Sender: a UDP socket of the scenario', 'name', 'socket name') },
            to: { schema: str('Destination ADDR:PORT: unicast, broadcast or multicast', 'endpoint', 'datagram address'), required: true },
            source: { schema: str('With from: the fresh socket binds ADDR or ADDR:PORT first', 'source', 'datagram source') },
            data: { schema: str('Payload (text)') },
            query: { schema: str('Instead of data: the payload is a standard DNS query for this name (RD set, class IN, an ID from the seed)', 'dns-name', 'datagram query') },
            qtype: { schema: { type: 'enum', values: Object.keys(DNS_QTYPES), description: 'With query: the query type (default A)' } },
            count: {
              schema: { type: 'integer', min: 1, max: MAX_CONNECT_COUNT, description: 'Number of datagrams (at most 65535)' },
              default: 1,
            },
            reply: { schema: { type: 'boolean', description: 'Each receiving socket answers with its banner, from the source address its OS picks' }, default: false },
            interface: { schema: str('Outgoing interface of a multicast or broadcast send (IP_MULTICAST_IF); default: by route', 'name', 'interface') },
          },
          exactlyOneOf: ['from', 'socket'],
        },
      },
    }, expectation(DATAGRAM_RESULT, 'a socket name, a+b, or a datagram outcome')),
  },
};

const SYSCTL: ObjectSchema = {
  type: 'object',
  noun: 'sysctl',
  description: 'Per-host kernel settings.',
  fields: {
    ip_nonlocal_bind: {
      schema: {
        type: 'anyOf', expected: 'a boolean or 0/1', description: 'net.ipv4.ip_nonlocal_bind and net.ipv6.ip_nonlocal_bind (both set alike)',
        options: [{ type: 'boolean' }, { type: 'integer', min: 0, max: 1 }],
      },
      default: false,
    },
    ip_local_port_range: {
      schema: str('net.ipv4.ip_local_port_range, "LOW HIGH"', 'port-range', 'ip_local_port_range'),
      default: '32768 60999',
    },
    ip_unprivileged_port_start: {
      // [net/ipv4/sysctl_net_ipv4.c: ip_privileged_port_max = 65535]
      schema: { type: 'integer', min: 0, max: 65535, description: 'net.ipv4.ip_unprivileged_port_start' },
      default: 1024,
    },
    tcp_rmem: {
      // Read by connections' window scale and initial windows (src/emu/policy/fingerprint.ts).
      schema: str('net.ipv4.tcp_rmem, "MIN DEFAULT MAX" in bytes: the default sizes the initial receive window, the larger of MAX and net.core.rmem_max (212992) the window scale', 'buffer-sizes', 'tcp_rmem'),
      default: '4096 131072 6291456',
    },
    promote_secondaries: {
      schema: {
        type: 'anyOf', expected: 'a boolean or 0/1',
        description: 'net.ipv4.conf.all.promote_secondaries: deleting a primary IPv4 address promotes the next one of its subnet instead of deleting them all',
        options: [{ type: 'boolean' }, { type: 'integer', min: 0, max: 1 }],
      },
      default: false,
    },
    rp_filter: {
      schema: {
        type: 'integer', min: 0, max: 2,
        description: 'net.ipv4.conf.all.rp_filter: reverse-path filtering of IPv4 packets, 0 off, 1 strict (the route back to the source must leave by the interface the packet came in on), 2 loose (some route back must exist)',
      },
      default: 0,
    },
  },
};

/** One route of a host, as `ip route add` takes it. */
const ROUTE: ObjectSchema = {
  type: 'object',
  noun: 'route',
  description: 'A route: a destination prefix or "default", a gateway (via) and/or a device (dev), an optional metric and preferred source (src).',
  fields: {
    to: { schema: str('Destination prefix, e.g. 10.1.0.0/16 or fd01::/64, or "default"', 'route-to', 'route destination'), required: true },
    via: { schema: str('Gateway address, on a connected subnet of the host', 'ip', 'route gateway') },
    dev: { schema: str('Interface of the host the route leaves by', 'name', 'route device') },
    metric: { schema: { type: 'integer', min: 0, max: 4294967295, description: 'Metric (priority): lower wins among routes of one prefix length; default 0 for IPv4, 1024 for IPv6' } },
    src: { schema: str('Preferred source address (an address of the host) for connections the route carries', 'ip', 'route source') },
  },
};

const HOST: ObjectSchema = {
  type: 'object',
  noun: 'host',
  description: 'A machine with interfaces and processes.',
  fields: {
    interfaces: {
      required: true,
      schema: {
        type: 'map', keyFormat: 'name', keyLabel: 'interface name', minEntries: 1,
        description: 'Interfaces by name, in order.',
        values: {
          type: 'object',
          noun: 'interface',
          description: 'A network interface; the first address of each family is the primary.',
          fields: {
            mac: { schema: str('MAC address, or "arp"; derived from the seed when absent', 'mac-or-arp', 'mac') },
            addresses: {
              required: true,
              schema: { type: 'list', items: str('CIDR, e.g. 10.0.0.1/24', 'cidr', 'interface address'), description: 'Addresses, primary first' },
            },
            link: { schema: str('Link name', 'name', 'link'), default: 'lan' },
          },
        },
      },
    },
    processes: {
      default: {},
      schema: {
        type: 'map', keyFormat: 'name', keyLabel: 'process name',
        description: 'Processes by name.',
        values: {
          type: 'object',
          noun: 'process',
          fields: {
            uid: { schema: { type: 'integer', min: 0, max: 4294967295, description: 'User id' }, default: 0 },
          },
        },
      },
    },
    sysctl: { schema: SYSCTL, default: {} },
    routes: {
      schema: { type: 'list', items: ROUTE, description: 'Routes, added in order after the addresses; without the key, a default route of each family on the first interface; [] for none but the connected routes' },
    },
    forward: {
      schema: { type: 'boolean', description: 'Forwards packets between its interfaces (net.ipv4.ip_forward, net.ipv6.conf.all.forwarding)' },
      default: false,
    },
  },
};

/** The rules of a custom policy: one field per rule of the vocabulary (emu/policy/rules.ts). */
const RULES: ObjectSchema = {
  type: 'object',
  noun: 'rules',
  description: 'Rule choices that differ from the base policy (bindlab policies --rules; docs/rules.md).',
  fields: Object.fromEntries(RULE_SPECS.map((r): [string, Field] => [r.name, {
    schema: r.name === 'listenRecheck' ? { type: 'boolean', description: r.question }
      : r.choices ? { type: 'enum', values: Object.keys(r.choices), description: r.question }
      : str(r.question, 'duration', r.name),
  }])),
};

/** A user-defined policy: a base policy plus rule choices. */
export const CUSTOM_POLICY: ObjectSchema = {
  type: 'object',
  noun: 'custom policy',
  description: 'A policy of your own: a base policy with some rule choices changed.',
  fields: {
    name: { schema: str('Name of the new policy', 'name', 'custom policy name'), required: true },
    extends: { schema: str('The policy it starts from', 'policy', 'extends'), required: true },
    title: { schema: str('One line saying what it is', 'line', 'title') },
    rules: { schema: RULES, required: true },
  },
};

const POLICY_ENTRY: AnyOfSchema = {
  type: 'anyOf',
  expected: 'a policy name or a custom policy {name, extends, rules}',
  options: [str('Policy name', 'policy', 'policy'), CUSTOM_POLICY],
};

/** A policy file (--policy-file): a list of custom policies. */
export const POLICY_FILE_SCHEMA: ListSchema = {
  type: 'list', minItems: 1, items: CUSTOM_POLICY, description: 'Custom policies.',
};

/** The whole scenario format. */
export const SCENARIO_SCHEMA: ObjectSchema = {
  type: 'object',
  noun: 'scenario',
  description: 'A bindlab scenario (format version 1; described in docs/scenario-format.md of the bindlab package).',
  fields: {
    name: { schema: str('One line naming the scenario', 'line', 'name'), required: true },
    description: { schema: str('Free text, shown in reports') },
    seed: {
      schema: { type: 'integer', min: 0, max: 4294967295, description: 'Seed for MACs, ISNs, ephemeral ports and reuseport picks' },
      default: 1,
    },
    policies: {
      schema: {
        type: 'list', minItems: 1, items: POLICY_ENTRY,
        description: 'Policies to run (names, or custom policies: a built-in one with rules changed); default: every built-in policy.',
      },
    },
    hosts: {
      required: true,
      schema: { type: 'map', keyFormat: 'name', keyLabel: 'host name', values: HOST, minEntries: 1, description: 'Hosts by name.' },
    },
    links: {
      schema: {
        type: 'map', keyFormat: 'name', keyLabel: 'link name', minEntries: 1,
        description: 'Links by name; default: one link "lan" of 100us joining every interface.',
        values: {
          type: 'object',
          noun: 'link',
          fields: { latency: { schema: str('One-way latency, e.g. 1ms', 'duration', 'link latency'), default: '100us' } },
        },
      },
    },
    steps: {
      required: true,
      schema: { type: 'list', items: STEP, minItems: 1, description: 'Steps, run in order for each policy.' },
    },
  },
};

export const DEFAULT_FORMAT_CONTEXT: FormatContext = { policies: BUILTIN_POLICIES };

// ---------------------------------------------------------------------------------------------
// The validator: checks a tree against a schema, fills defaults, throws the first problem.

function describe(node: TreeNode): string {
  if (node.kind === 'list') return 'a list';
  if (node.kind === 'map') return 'a map';
  const v = node.value;
  if (v === null) return 'nothing (null)';
  if (typeof v === 'string') return `string ${excerpt(JSON.stringify(v))}`;
  if (typeof v === 'boolean') return `boolean ${v}`;
  return `number ${v}`;
}

function expectedOf(schema: Schema): string {
  switch (schema.type) {
    case 'string': return 'a string';
    case 'integer': return 'an integer';
    case 'boolean': return 'a boolean';
    case 'enum': return `one of ${schema.values.join(', ')}`;
    case 'list': return 'a list';
    case 'map':
    case 'object':
    case 'keyed': return 'a map';
    case 'anyOf': return schema.expected;
  }
}

/** Builds a tree for a default value, placed at the position of the object that lacks it. */
function treeOf(value: unknown, pos: SourcePos): TreeNode {
  if (Array.isArray(value)) return { kind: 'list', items: value.map((v) => treeOf(v, pos)), pos };
  if (value !== null && typeof value === 'object') {
    return {
      kind: 'map',
      entries: Object.entries(value).map(([key, v]) => ({ key, keyPos: pos, value: treeOf(v, pos) })),
      pos,
    };
  }
  return { kind: 'scalar', value: value as string | number | boolean | null, pos };
}

/** The path of a key: "seed" at the top, "hosts.server.interfaces" below. */
const sub = (path: string, key: string): string => (path ? `${path}.${key}` : key);

class Validator {
  /** Problems found so far: siblings (list items, map entries, an object's keys) are checked independently. */
  readonly errors: ScenarioError[] = [];

  constructor(
    readonly file: string,
    readonly ctx: FormatContext,
  ) {}

  /** Runs one independent check; its problem is collected and the check gives nothing. */
  private each<T>(check: () => T): T | undefined {
    try {
      return check();
    } catch (e) {
      if (!(e instanceof ScenarioError)) throw e;
      collect(this.errors, e);
      return undefined;
    }
  }

  fail(pos: SourcePos, message: string): never {
    throw new ScenarioError(this.file, pos.line, pos.col, message);
  }

  /** Returns the node (with defaults filled in) when it conforms, else throws. */
  check(node: TreeNode, schema: Schema, path: string): TreeNode {
    const wrongType = (): never => this.fail(node.pos, `${path}: expected ${expectedOf(schema)}, got ${describe(node)}`);
    switch (schema.type) {
      case 'string': {
        if (node.kind !== 'scalar' || typeof node.value !== 'string') return wrongType();
        if (schema.format) this.checkFormat(node.value, schema.format, schema.label ?? path, node.pos);
        return node;
      }
      case 'integer': {
        if (node.kind === 'scalar' && typeof node.value === 'number' && node.float !== undefined && Number.isInteger(node.value)) {
          this.fail(node.pos, `${path}: ${excerpt(node.float, 40, false)} is written as a floating-point number; ${path || 'this'} takes an integer: write ${node.value}`);
        }
        if (node.kind !== 'scalar' || typeof node.value !== 'number' || !Number.isInteger(node.value)) return wrongType();
        if (node.value > schema.max && schema.maxWhy) this.fail(node.pos, `${path}: ${node.value} is more than ${schema.max}: ${schema.maxWhy}`);
        if (node.value < schema.min || node.value > schema.max) {
          this.fail(node.pos, `${path}: ${node.value} is out of range ${schema.min}..${schema.max}`);
        }
        return node;
      }
      case 'boolean':
        if (node.kind !== 'scalar' || typeof node.value !== 'boolean') return wrongType();
        return node;
      case 'enum':
        if (node.kind !== 'scalar' || typeof node.value !== 'string' || !schema.values.includes(node.value)) return wrongType();
        return node;
      case 'list': {
        if (node.kind !== 'list') return wrongType();
        if (node.items.length < (schema.minItems ?? 0)) {
          this.fail(node.pos, `${path}: expected at least ${schema.minItems} item${schema.minItems === 1 ? '' : 's'}`);
        }
        return { ...node, items: node.items.map((item, i) => this.each(() => this.check(item, schema.items, `${path}[${i}]`))).filter((x): x is TreeNode => x !== undefined) };
      }
      case 'map': {
        if (node.kind !== 'map') return wrongType();
        if (node.entries.length < (schema.minEntries ?? 0)) {
          this.fail(node.pos, `${path}: expected at least ${schema.minEntries} entr${schema.minEntries === 1 ? 'y' : 'ies'}`);
        }
        return {
          ...node,
          entries: node.entries.flatMap((e) => this.each(() => {
            this.checkFormat(e.key, schema.keyFormat, schema.keyLabel, e.keyPos);
            return { ...e, value: this.check(e.value, schema.values, sub(path, e.key)) };
          }) ?? []),
        };
      }
      case 'object':
        if (node.kind !== 'map') return wrongType();
        return this.checkObject(node, schema, path);
      case 'keyed':
        if (node.kind !== 'map') return wrongType();
        return this.checkObject(node, this.variantOf(node, schema), path);
      case 'anyOf': {
        for (const option of schema.options) {
          if (this.conformsInShape(node, option)) return this.check(node, option, path);
        }
        return wrongType();
      }
    }
  }

  /** For anyOf: the first option whose outer shape fits is the one to validate against. */
  private conformsInShape(node: TreeNode, schema: Schema): boolean {
    switch (schema.type) {
      case 'string': return node.kind === 'scalar' && typeof node.value === 'string';
      case 'enum': return node.kind === 'scalar' && typeof node.value === 'string';
      case 'integer': return node.kind === 'scalar' && typeof node.value === 'number';
      case 'boolean': return node.kind === 'scalar' && typeof node.value === 'boolean';
      case 'list': return node.kind === 'list';
      case 'map':
      case 'object':
      case 'keyed': return node.kind === 'map';
      case 'anyOf': return schema.options.some((o) => this.conformsInShape(node, o));
    }
  }

  private checkFormat(text: string, format: FormatName, label: string, pos: SourcePos): void {
    const f = FORMATS[format];
    if (f.test(text, this.ctx)) return;
    this.fail(pos, f.problem ? f.problem(label, text, this.ctx) : `${label} ${excerpt(JSON.stringify(text))} is not ${f.is}`);
  }

  /** The variant named by the one kind key the step has. */
  private variantOf(node: TreeMap, schema: KeyedUnionSchema): ObjectSchema {
    const kinds = Object.keys(schema.variants);
    const present = node.entries.filter((e) => kinds.includes(e.key));
    // "address" is a step kind and also a key of bind steps: a kind key that is a field of
    // the other present kind is that field.
    const fits = present.filter((k) =>
      present.every((o) => o === k || o.key in schema.variants[k.key]!.fields));
    if (fits.length === 1) return schema.variants[fits[0]!.key]!;
    if (present.length === 0) {
      const common = new Set(kinds.flatMap((k) => Object.keys(schema.variants[k]!.fields)));
      const stray = node.entries.find((e) => !common.has(e.key));
      if (stray) {
        this.fail(stray.keyPos, `unknown key ${excerpt(JSON.stringify(stray.key))} in ${schema.noun}; expected one of: ${kinds.join(', ')}`);
      }
      this.fail(node.pos, `${schema.noun} has no kind; expected one of: ${kinds.join(', ')}`);
    }
    this.fail(
      present[1]!.keyPos,
      `${schema.noun} has two kinds, "${present[0]!.key}" and "${present[1]!.key}"; a ${schema.noun} has exactly one of: ${kinds.join(', ')}`,
    );
  }

  private checkObject(node: TreeMap, schema: ObjectSchema, path: string): TreeMap {
    const known = Object.keys(schema.fields);
    const before = this.errors.length;
    for (const e of node.entries) {
      if (!known.includes(e.key)) {
        this.each(() => this.fail(e.keyPos, `unknown key ${excerpt(JSON.stringify(e.key))} in ${schema.noun}; expected one of: ${known.join(', ')}`));
      }
    }
    // A missing key beside an unknown one is most likely that key misspelt: the unknown key's message says it all.
    const misspelt = node.entries.some((e) => !known.includes(e.key));
    for (const [key, field] of Object.entries(schema.fields)) {
      if (field.required && !misspelt && !node.entries.some((e) => e.key === key)) {
        this.each(() => this.fail(node.pos, `missing required key "${key}" in ${schema.noun}`));
      }
    }
    if (schema.exactlyOneOf) {
      const given = schema.exactlyOneOf.filter((k) => node.entries.some((e) => e.key === k));
      if (given.length !== 1) {
        this.fail(node.pos, `${schema.noun} needs exactly one of: ${schema.exactlyOneOf.join(', ')}`);
      }
    }
    const entries = node.entries.filter((e) => known.includes(e.key))
      .flatMap((e) => this.each(() => ({ ...e, value: this.check(e.value, schema.fields[e.key]!.schema, sub(path, e.key)) })) ?? []);
    // An object with a problem is not whole: its parent must not go on as if it were.
    if (this.errors.length > before) this.fail(node.pos, AGAIN);
    for (const [key, field] of Object.entries(schema.fields)) {
      if (field.default !== undefined && !node.entries.some((e) => e.key === key)) {
        entries.push({ key, keyPos: node.pos, value: this.check(treeOf(field.default, node.pos), field.schema, sub(path, key)) });
      }
    }
    return { ...node, entries };
  }
}

/** Thrown inside the validator to stop at a node whose parts were already reported; never reported itself. */
const AGAIN = '\u0000already reported';

/** Runs a validator over a root: every independent problem collected, thrown together at the end. */
function validated<T>(v: Validator, check: () => T): T {
  let out: T | undefined;
  let stopped = false;
  try {
    out = check();
  } catch (e) {
    if (e instanceof CheckingStopped) stopped = true;
    else if (!(e instanceof ScenarioError)) throw e;
    else v.errors.push(e);
  }
  throwCollected(v.errors.filter((e) => e.detail !== AGAIN), stopped);
  if (out === undefined) throw new Error('validation stopped without a problem');
  return out;
}

/** Checks any tree against a schema (a policy file, say); returns it with defaults filled in. */
export function validateNode(root: TreeNode, schema: Schema, file: string, ctx: FormatContext, path = ''): TreeNode {
  const v = new Validator(file, ctx);
  return validated(v, () => v.check(root, schema, path));
}

/** Checks the whole document against SCENARIO_SCHEMA; returns it with defaults filled in. */
export function validateTree(root: TreeNode, file: string, ctx: FormatContext = DEFAULT_FORMAT_CONTEXT): TreeMap {
  const v = new Validator(file, ctx);
  if (root.kind !== 'map') {
    v.fail(root.pos, `a scenario is a map with keys ${Object.keys(SCENARIO_SCHEMA.fields).join(', ')}; got ${describe(root)}`);
  }
  return validated(v, () => v.check(root, SCENARIO_SCHEMA, '')) as TreeMap;
}

// The Linux selftest's wildcard bind table as our own data, and the scenario each row makes.
// Source: linux tools/testing/selftests/net/bind_wildcard.c (the 8-socket version, with v4-mapped addresses).
// Per variant and mode: sockets 0 and 1 get IPV6_V6ONLY (if the variant says so) and the mode's
// option, bind addr0 and addr1; sockets 2-7 (no options) bind 0.0.0.0, 127.0.0.1, ::, ::1,
// ::ffff:0.0.0.0, ::ffff:127.0.0.1; all on one port; a socket whose bind succeeded stays bound.

/** The addresses the selftest binds, by the names its variants use. */
const ADDR = {
  v4_any: { family: 'inet', text: '0.0.0.0' },
  v4_local: { family: 'inet', text: '127.0.0.1' },
  v6_any: { family: 'inet6', text: '::' },
  v6_local: { family: 'inet6', text: '::1' },
  v6_v4mapped_any: { family: 'inet6', text: '::ffff:0.0.0.0' },
  v6_v4mapped_local: { family: 'inet6', text: '::ffff:127.0.0.1' },
} as const;
type AddrName = keyof typeof ADDR;

/** Sockets 2-7, in the selftest's order. */
const FOLLOWERS: readonly AddrName[] = ['v4_any', 'v4_local', 'v6_any', 'v6_local', 'v6_v4mapped_any', 'v6_v4mapped_local'];

export type Mode = 'plain' | 'reuseaddr' | 'reuseport';
export const MODES: readonly Mode[] = ['plain', 'reuseaddr', 'reuseport'];
const MODE_OPTION: Record<Mode, string | undefined> = { plain: undefined, reuseaddr: 'SO_REUSEADDR', reuseport: 'SO_REUSEPORT' };

export type Errno = 'ok' | 'EADDRINUSE';
const ok: Errno = 'ok';
const IU: Errno = 'EADDRINUSE';

export interface Variant {
  /** The selftest's variant name. */
  readonly name: string;
  readonly addr: readonly [AddrName, AddrName];
  readonly v6only: readonly [boolean, boolean];
  /** Each socket's bind result without options (expected_errno). */
  readonly plain: readonly Errno[];
  /** With SO_REUSEADDR or SO_REUSEPORT on sockets 0 and 1 (expected_reuse_errno). */
  readonly reuse: readonly Errno[];
}

const __ = [false, false] as const;
const variant = (name: string, addr: [AddrName, AddrName], v6only: readonly [boolean, boolean], plain: Errno[], reuse: Errno[]): Variant =>
  ({ name, addr, v6only, plain, reuse });

// Columns: socket 0, 1 (the variant's two addresses), then 0.0.0.0, 127.0.0.1, ::, ::1, ::ffff:0.0.0.0, ::ffff:127.0.0.1.
export const VARIANTS: readonly Variant[] = [
  // (IPv4, IPv4)
  variant('v4_any_v4_local', ['v4_any', 'v4_local'], __, [ok, IU, IU, IU, IU, ok, IU, IU], [ok, ok, IU, IU, IU, ok, IU, IU]),
  variant('v4_local_v4_any', ['v4_local', 'v4_any'], __, [ok, IU, IU, IU, IU, ok, IU, IU], [ok, ok, IU, IU, IU, ok, IU, IU]),
  // (IPv4, IPv6)
  variant('v4_any_v6_any', ['v4_any', 'v6_any'], __, [ok, IU, IU, IU, IU, ok, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v4_any_v6_any_only', ['v4_any', 'v6_any'], [false, true], [ok, ok, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v4_any_v6_local', ['v4_any', 'v6_local'], __, [ok, ok, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v4_any_v6_v4mapped_any', ['v4_any', 'v6_v4mapped_any'], __, [ok, IU, IU, IU, IU, ok, IU, IU], [ok, ok, IU, IU, IU, ok, IU, IU]),
  variant('v4_any_v6_v4mapped_local', ['v4_any', 'v6_v4mapped_local'], __, [ok, IU, IU, IU, IU, ok, IU, IU], [ok, ok, IU, IU, IU, ok, IU, IU]),
  variant('v4_local_v6_any', ['v4_local', 'v6_any'], __, [ok, IU, IU, IU, IU, ok, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v4_local_v6_any_only', ['v4_local', 'v6_any'], [false, true], [ok, ok, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v4_local_v6_local', ['v4_local', 'v6_local'], __, [ok, ok, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v4_local_v6_v4mapped_any', ['v4_local', 'v6_v4mapped_any'], __, [ok, IU, IU, IU, IU, ok, IU, IU], [ok, ok, IU, IU, IU, ok, IU, IU]),
  variant('v4_local_v6_v4mapped_local', ['v4_local', 'v6_v4mapped_local'], __, [ok, IU, IU, IU, IU, ok, IU, IU], [ok, ok, IU, IU, IU, ok, IU, IU]),
  // (IPv6, IPv4)
  variant('v6_any_v4_any', ['v6_any', 'v4_any'], __, [ok, IU, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_any_only_v4_any', ['v6_any', 'v4_any'], [true, false], [ok, ok, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_any_v4_local', ['v6_any', 'v4_local'], __, [ok, IU, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_any_only_v4_local', ['v6_any', 'v4_local'], [true, false], [ok, ok, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_local_v4_any', ['v6_local', 'v4_any'], __, [ok, ok, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_local_v4_local', ['v6_local', 'v4_local'], __, [ok, ok, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_v4mapped_any_v4_any', ['v6_v4mapped_any', 'v4_any'], __, [ok, IU, IU, IU, IU, ok, IU, IU], [ok, ok, IU, IU, IU, ok, IU, IU]),
  variant('v6_v4mapped_any_v4_local', ['v6_v4mapped_any', 'v4_local'], __, [ok, IU, IU, IU, IU, ok, IU, IU], [ok, ok, IU, IU, IU, ok, IU, IU]),
  variant('v6_v4mapped_local_v4_any', ['v6_v4mapped_local', 'v4_any'], __, [ok, IU, IU, IU, IU, ok, IU, IU], [ok, ok, IU, IU, IU, ok, IU, IU]),
  variant('v6_v4mapped_local_v4_local', ['v6_v4mapped_local', 'v4_local'], __, [ok, IU, IU, IU, IU, ok, IU, IU], [ok, ok, IU, IU, IU, ok, IU, IU]),
  // (IPv6, IPv6)
  variant('v6_any_v6_any', ['v6_any', 'v6_any'], __, [ok, IU, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_any_only_v6_any', ['v6_any', 'v6_any'], [true, false], [ok, IU, ok, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_any_v6_any_only', ['v6_any', 'v6_any'], [false, true], [ok, IU, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_any_only_v6_any_only', ['v6_any', 'v6_any'], [true, true], [ok, IU, ok, IU, IU, IU, IU, IU], [ok, ok, ok, IU, IU, IU, IU, IU]),
  variant('v6_any_v6_local', ['v6_any', 'v6_local'], __, [ok, IU, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_any_only_v6_local', ['v6_any', 'v6_local'], [true, false], [ok, IU, ok, IU, IU, IU, IU, IU], [ok, ok, ok, IU, IU, IU, IU, IU]),
  variant('v6_any_v6_v4mapped_any', ['v6_any', 'v6_v4mapped_any'], __, [ok, IU, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_any_only_v6_v4mapped_any', ['v6_any', 'v6_v4mapped_any'], [true, false], [ok, ok, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_any_v6_v4mapped_local', ['v6_any', 'v6_v4mapped_local'], __, [ok, IU, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_any_only_v6_v4mapped_local', ['v6_any', 'v6_v4mapped_local'], [true, false], [ok, ok, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_local_v6_any', ['v6_local', 'v6_any'], __, [ok, IU, ok, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_local_v6_any_only', ['v6_local', 'v6_any'], [false, true], [ok, IU, ok, IU, IU, IU, IU, IU], [ok, ok, ok, IU, IU, IU, IU, IU]),
  variant('v6_local_v6_v4mapped_any', ['v6_local', 'v6_v4mapped_any'], __, [ok, ok, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_local_v6_v4mapped_local', ['v6_local', 'v6_v4mapped_local'], __, [ok, ok, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_v4mapped_any_v6_any', ['v6_v4mapped_any', 'v6_any'], __, [ok, IU, IU, IU, IU, ok, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_v4mapped_any_v6_any_only', ['v6_v4mapped_any', 'v6_any'], [false, true], [ok, ok, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_v4mapped_any_v6_local', ['v6_v4mapped_any', 'v6_local'], __, [ok, ok, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_v4mapped_any_v6_v4mapped_local', ['v6_v4mapped_any', 'v6_v4mapped_local'], __, [ok, IU, IU, IU, IU, ok, IU, IU], [ok, ok, IU, IU, IU, ok, IU, IU]),
  variant('v6_v4mapped_loopback_v6_any', ['v6_v4mapped_local', 'v6_any'], __, [ok, IU, IU, IU, IU, ok, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_v4mapped_loopback_v6_any_only', ['v6_v4mapped_local', 'v6_any'], [false, true], [ok, ok, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_v4mapped_loopback_v6_local', ['v6_v4mapped_local', 'v6_local'], __, [ok, ok, IU, IU, IU, IU, IU, IU], [ok, ok, IU, IU, IU, IU, IU, IU]),
  variant('v6_v4mapped_loopback_v6_v4mapped_any', ['v6_v4mapped_local', 'v6_v4mapped_any'], __, [ok, IU, IU, IU, IU, ok, IU, IU], [ok, ok, IU, IU, IU, ok, IU, IU]),
];

/** The fixed port every socket binds (the selftest takes socket 0's ephemeral one). */
export const PORT = 8080;

/** The table's bind results of one variant in one mode, sockets 0-7. */
export const expected = (v: Variant, mode: Mode): readonly Errno[] => (mode === 'plain' ? v.plain : v.reuse);

const endpoint = (a: AddrName): string => (ADDR[a].family === 'inet6' ? `"[${ADDR[a].text}]:${PORT}"` : `"${ADDR[a].text}:${PORT}"`);

/**
 * The scenario of one variant and mode: a socket step and a bind step per selftest socket, each
 * bind expecting `results[i]` (the table's unless told). 127.0.0.1 and ::1 are the loopback's.
 */
export function wildcardScenario(v: Variant, mode: Mode, results: readonly Errno[] = expected(v, mode)): string {
  const addrs: AddrName[] = [...v.addr, ...FOLLOWERS];
  const steps = addrs.flatMap((a, i) => {
    const opts: string[] = [];
    if (i < 2 && v.v6only[i]) opts.push('IPV6_V6ONLY: true');
    const modeOpt = MODE_OPTION[mode];
    if (i < 2 && modeOpt) opts.push(`${modeOpt}: true`);
    const family = ADDR[a].family === 'inet6' ? ', family: inet6' : '';
    return [
      `  - { socket: s${i}, process: server/root${family}${opts.length ? `, options: { ${opts.join(', ')} }` : ''}, expect: ok }`,
      `  - { bind: s${i}, address: ${endpoint(a)}, expect: ${results[i]} }`,
    ];
  });
  return [
    `name: bind_wildcard ${v.name} ${mode}`,
    'policies: [linux]',
    'hosts:',
    '  server:',
    '    interfaces: { eth0: { addresses: [10.0.0.1/24, fd00::1/64] } }',
    '    processes: { root: { uid: 0 } }',
    'steps:',
    ...steps,
    '',
  ].join('\n');
}

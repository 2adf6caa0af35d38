// The hijack audit: runs every small configuration of one server host under a policy (no
// capture, decisions only) and reports
//  (a) hijacks: a connection delivered to a socket of another uid although, had that socket not
//      existed, the listener that was established first would have received it;
//  (b) refused legitimate setups: one wildcard listener plus specific listeners of the same uid
//      on the host's other addresses, started one daemon after the other (socket, bind, listen),
//      that no combination of options permits.
// Symmetric configurations are pruned: the first socket belongs to the first uid, and specific
// addresses are numbered in order of first use.
// With `udp` (issue 18) the sockets are datagram sockets, bound in socket order (every order is
// another numbering of the same sockets), and each address gets a datagram: (a) is then another
// uid's socket taking the datagrams of the socket that bound first; (b) the per-alias servers
// beside a wildcard one that DNS and NTP daemons run.

import { runPolicy } from '../emu/engine.js';
import type { HostView, Policy, Sock } from '../emu/policy/types.js';
import type { OptionName } from '../scenario/types.js';
import { addrText, configKey, PROCESS, toScenario, toYaml, UIDS, without, type Config, type Event, type SockSpec } from './config.js';

/** Options the audit combines, where the policy has them. */
export const AUDIT_OPTIONS: readonly OptionName[] = ['SO_REUSEADDR', 'SO_REUSEPORT', 'SO_REUSEPORT_LB', 'SO_EXCLUSIVEADDRUSE'];

export interface AuditOptions {
  /** Most server addresses (1..3 by default 3); every count from 1 up is explored. */
  readonly addresses?: number;
  /** Most sockets per configuration (2..3, default 3). */
  readonly sockets?: number;
  /** The `policies:` entry of finding scenarios (a custom policy's definition); default: the policy's name. */
  readonly policiesYaml?: string;
  /** Datagram sockets and datagrams instead of listeners and connections. */
  readonly udp?: boolean;
}

export interface Finding {
  readonly kind: 'hijack' | 'refused-setup';
  /** One line in words. */
  readonly summary: string;
  /** Findings of the same kind and shape count once; how many configurations showed it. */
  readonly occurrences: number;
  /** A scenario file that reproduces it under the policy (its expectations hold). */
  readonly scenario: string;
  /** A short file name for it. */
  readonly file: string;
}

export interface AuditReport {
  readonly policy: string;
  /** The sockets were datagram sockets. */
  readonly udp: boolean;
  readonly addresses: number;
  readonly sockets: number;
  readonly options: readonly OptionName[];
  readonly configurations: number;
  readonly seconds: number;
  readonly hijacks: number;
  /** For each address count n >= 2: the options that permit the multi-homed setup, or null if none does. */
  readonly multihomed: readonly { readonly n: number; readonly permittedWith: readonly (readonly OptionName[])[] | null }[];
  readonly findings: readonly Finding[];
}

/** The options among AUDIT_OPTIONS the policy accepts (setsockopt is not ENOPROTOOPT). */
export function policyOptions(policy: Policy): OptionName[] {
  const host: HostView = {
    name: 'probe', interfaces: ['eth0'], addresses: () => [], isLocal: () => false, interfaceOf: () => undefined,
    sysctl: { ipNonlocalBind: false, ipLocalPortRange: [32768, 60999], ipUnprivilegedPortStart: 1024 },
    owners: () => [], portHeld: () => false, bindBucket: () => undefined, setBindBucket: () => {}, random: () => 0,
  };
  return AUDIT_OPTIONS.filter((o) => {
    const sk: Sock = {
      id: 1, name: 'probe', kind: 'socket', hostName: 'probe', processName: 'probe', uid: 0, family: 'inet',
      opts: { reuseaddr: false, reuseport: false, reuseportLb: false, exclusive: false, v6only: false, freebind: false, device: null },
      state: 'CLOSE', local: null, port: 0, ipv6only: false, listener: null, createdSeq: 1, boundSeq: 0, listenSeq: 0, group: null, remote: null,
    };
    return policy.setsockopt(sk, o, true, host).errno !== 'ENOPROTOOPT';
  });
}

function subsets<T>(xs: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let m = 0; m < 1 << xs.length; m++) out.push(xs.filter((_, i) => m & (1 << i)));
  return out;
}

/** Every order of binds (in socket order) and listens (each after its bind). */
function bindListenOrders(k: number): Event[][] {
  const out: Event[][] = [];
  const go = (seq: Event[], bound: number, listened: readonly boolean[]): void => {
    if (seq.length === 2 * k) { out.push(seq); return; }
    if (bound < k) go([...seq, { kind: 'bind', sock: bound }], bound + 1, listened);
    for (let i = 0; i < bound; i++) {
      if (!listened[i]) go([...seq, { kind: 'listen', sock: i }], bound, listened.map((l, j) => l || j === i));
    }
  };
  go([], 0, Array<boolean>(k).fill(false));
  return out;
}

/** Address choices per socket, specific addresses numbered in order of first use (1..n). */
function addressSequences(k: number, n: number): number[][] {
  const out: number[][] = [];
  const go = (seq: number[], used: number): void => {
    if (seq.length === k) { out.push(seq); return; }
    for (let a = 0; a <= Math.min(used + 1, n); a++) go([...seq, a], Math.max(used, a));
  };
  go([], 0);
  return out;
}

/** uid choices: the first socket is uid 0 (swapping uids is symmetric); both uids appear. */
function uidSequences(k: number): (0 | 1)[][] {
  const out: (0 | 1)[][] = [];
  for (let m = 0; m < 1 << (k - 1); m++) {
    const seq: (0 | 1)[] = [0, ...Array.from({ length: k - 1 }, (_, i) => ((m >> i) & 1) as 0 | 1)];
    if (seq.includes(1)) out.push(seq);
  }
  return out;
}

const optText = (o: readonly OptionName[]): string => (o.length ? o.join('+') : 'no options');
const where = (a: number): string => (a === 0 ? 'the wildcard' : 'a specific address');

export function audit(policy: Policy, opts: AuditOptions = {}): AuditReport {
  const maxAddresses = opts.addresses ?? 3;
  const maxSockets = opts.sockets ?? 3;
  const udp = opts.udp === true;
  if (udp && !policy.udp) throw new Error(`${policy.name} has no UDP rules: nothing to audit for datagrams`);
  const udpFlag = udp ? { udp: true } : {};
  const options = policyOptions(policy);
  const optionSets = subsets(options);
  const policiesYaml = opts.policiesYaml ?? `[${policy.name}]`;
  const t0 = performance.now();
  let configurations = 0;
  const memo = new Map<string, readonly string[]>();
  const results = (c: Config): readonly string[] => {
    const key = configKey(c);
    let r = memo.get(key);
    if (!r) {
      configurations++;
      r = runPolicy(toScenario(c), policy).steps.map((s) => s.result);
      memo.set(key, r);
    }
    return r;
  };

  // (a) hijacks
  const hijackKinds = new Map<string, { count: number; config: Config; victim: number; thief: number; target: number }>();
  let hijacks = 0;
  for (let n = 1; n <= maxAddresses; n++) {
    const connects = Array.from({ length: n }, (_, i) => i + 1);
    for (let k = 2; k <= maxSockets; k++) {
      // UDP: no listen; binds in socket order (another order is another numbering of the sockets).
      const orders = (udp ? [Array.from({ length: k }, (_, i): Event => ({ kind: 'bind', sock: i }))] : bindListenOrders(k))
        .map((o) => [...Array.from({ length: k }, (_, i): Event => ({ kind: 'socket', sock: i })), ...o]);
      for (const uids of uidSequences(k)) {
        for (const addrs of addressSequences(k, n)) {
          for (const optTuple of tuples(optionSets, k)) {
            const socks: SockSpec[] = uids.map((uid, i) => ({ name: `s${i + 1}`, uid, addr: addrs[i]!, options: optTuple[i]! }));
            for (const events of orders) {
              const c: Config = { ...udpFlag, addresses: n, socks, events, connects };
              const r = results(c);
              // The first listener on the port: its bind succeeded (a failed bind's listen auto-binds
              // elsewhere). UDP: the first socket whose bind succeeded.
              const firstListen = udp ? events.findIndex((e, i) => e.kind === 'bind' && r[i] === 'ok')
                : events.findIndex((e, i) => e.kind === 'listen' && r[i] === 'ok'
                  && r[events.findIndex((b) => b.kind === 'bind' && b.sock === e.sock)] === 'ok');
              if (firstListen < 0) continue;
              const victim = events[firstListen]!.sock;
              let found = false;
              connects.forEach((target, j) => {
                const got = r[events.length + j]!;
                const thief = socks.findIndex((s) => s.name === got);
                if (thief < 0 || socks[thief]!.uid === socks[victim]!.uid) return;
                const cf = without(c, thief);
                if (results(cf)[cf.events.length + j] !== socks[victim]!.name) return;
                found = true;
                const thiefBind = events.findIndex((e) => e.kind === 'bind' && e.sock === thief);
                const sig = `${where(socks[victim]!.addr)} ${optText(socks[victim]!.options)} | ${where(socks[thief]!.addr)} ${optText(socks[thief]!.options)} | ${thiefBind < firstListen ? 'before' : 'after'}`;
                const kind = hijackKinds.get(sig);
                if (kind) kind.count++;
                else hijackKinds.set(sig, { count: 1, config: c, victim, thief, target });
              });
              if (found) hijacks++;
            }
          }
        }
      }
    }
  }

  const findings: Finding[] = [];
  for (const [, h] of hijackKinds) {
    const f = hijackFinding(h, results, policy.name, policiesYaml, findings.length + 1, udp);
    // Two kinds that cut down to the same finding are one: its configurations counted together.
    const same = findings.findIndex((g) => g.summary === f.summary);
    if (same >= 0) findings[same] = { ...findings[same]!, occurrences: findings[same]!.occurrences + f.occurrences };
    else findings.push(f);
  }

  // (b) the multi-homed setup: one wildcard listener plus specific listeners of one uid on the other addresses
  const multihomed: { n: number; permittedWith: OptionName[][] | null }[] = [];
  for (let n = 2; n <= maxAddresses && n <= maxSockets; n++) {
    const socks0: SockSpec[] = [{ name: 'any', uid: 0, addr: 0, options: [] },
      ...Array.from({ length: n - 1 }, (_, i): SockSpec => ({ name: `spec${i + 2}`, uid: 0, addr: i + 2, options: [] }))];
    const connects = Array.from({ length: n }, (_, i) => i + 1);
    const want = connects.map((a) => (a === 1 ? 'any' : `spec${a}`));
    let permitted: OptionName[][] | null = null;
    let refusedExample: Config | null = null;
    for (let first = 0; first < n && !permitted; first++) {
      // The wildcard daemon starts at position `first` among the n.
      const daemonOrder = [...Array.from({ length: n - 1 }, (_, i) => i + 1)];
      daemonOrder.splice(first, 0, 0);
      const events = daemonOrder.flatMap((i): Event[] => [{ kind: 'socket', sock: i }, { kind: 'bind', sock: i }, ...(udp ? [] : [{ kind: 'listen', sock: i } as Event])]);
      for (const optTuple of tuples(optionSets, n)) {
        const c: Config = { ...udpFlag, addresses: n, socks: socks0.map((s, i) => ({ ...s, options: optTuple[i]! })), events, connects };
        const r = results(c);
        const okSetup = r.slice(0, events.length).every((x) => x === 'ok');
        if (okSetup && want.every((w, j) => r[events.length + j] === w)) { permitted = optTuple.map((o) => [...o]); break; }
      }
      if (first === 0) {
        refusedExample = { ...udpFlag, addresses: n, socks: socks0.map((s) => ({ ...s, options: options.includes('SO_REUSEADDR') ? ['SO_REUSEADDR'] : [] })), events, connects };
      }
    }
    multihomed.push({ n, permittedWith: permitted });
    if (!permitted && refusedExample) {
      const r = results(refusedExample);
      findings.push({
        kind: 'refused-setup',
        summary: `a host with ${n} addresses cannot have one wildcard ${udp ? 'UDP socket' : 'listener'} plus ${n - 1} specific ${udp ? 'socket' : 'listener'}(s) of the same uid on its other addresses, whatever the options (${optionSets.length ** n} combinations, ${n} start orders)`,
        occurrences: 1,
        file: `${String(findings.length + 1).padStart(2, '0')}-${udp ? 'udp-' : ''}refused-multihomed-n${n}.yaml`,
        scenario: toYaml(refusedExample, {
          name: `${policy.name}: the multi-homed setup is refused (n = ${n})`,
          description: `bindlab audit: one wildcard ${udp ? 'UDP socket' : 'listener'} and ${n - 1} specific ${udp ? 'socket' : 'listener'}(s) of uid ${UIDS[0]} on the other addresses of a ${n}-address host, one daemon after the other. No combination of ${optText(options).replace(/\+/g, ', ')} lets every bind${udp ? '' : ' and listen'} succeed under ${policy.name}${udp ? ' with each address\'s datagrams going to its own socket' : ''}; this file shows the SO_REUSEADDR attempt.`,
          policiesYaml, results: r,
        }),
      });
    }
  }

  return {
    policy: policy.name, udp, addresses: maxAddresses, sockets: maxSockets, options,
    configurations, seconds: (performance.now() - t0) / 1000, hijacks, multihomed, findings,
  };
}

function* tuples<T>(xs: readonly T[], k: number): Generator<T[]> {
  if (k === 0) { yield []; return; }
  for (const x of xs) for (const rest of tuples(xs, k - 1)) yield [x, ...rest];
}

/** A hijack as a finding: the configuration cut down to the sockets it needs and the one connection. */
function hijackFinding(h: { count: number; config: Config; victim: number; thief: number; target: number },
  results: (c: Config) => readonly string[], policyName: string, policiesYaml: string, number: number, udp: boolean): Finding {
  let c: Config = { ...h.config, connects: [h.target] };
  let victim = c.socks[h.victim]!.name;
  const thief = c.socks[h.thief]!.name;
  const still = (x: Config): boolean => {
    const r = results(x);
    const v = x.socks.findIndex((s) => s.name === victim);
    const t = x.socks.findIndex((s) => s.name === thief);
    if (v < 0 || t < 0 || r[x.events.length] !== thief) return false;
    const cf = without(x, t);
    return results(cf)[cf.events.length] === victim;
  };
  // Drop bystander sockets while the hijack holds.
  for (let i = c.socks.length - 1; i >= 0; i--) {
    const name = c.socks[i]!.name;
    if (name === victim || name === thief) continue;
    const smaller = without(c, i);
    if (still(smaller)) c = smaller;
  }
  victim = c.socks.find((s) => s.name === victim)!.name;
  const v = c.socks.find((s) => s.name === victim)!;
  const t = c.socks.find((s) => s.name === thief)!;
  const r = results(c);
  // The order is part of what was found (a bind before the victim listens is checked differently from one after).
  const thiefBind = c.events.findIndex((e) => e.kind === 'bind' && e.sock === c.socks.indexOf(t));
  const victimListen = c.events.findIndex((e) => e.kind === 'listen' && e.sock === c.socks.indexOf(v));
  const when = udp ? `bound after ${victim}` : thiefBind < victimListen ? `bound before ${victim} listened` : `bound after ${victim} listened`;
  const summary = `uid ${UIDS[t.uid]}'s ${thief} (${optText(t.options)} on ${addrText(t.addr)}, ${when}) takes ${udp ? 'datagrams' : 'connections'} to ${addrText(h.target)}:8080 from uid ${UIDS[v.uid]}'s ${victim} (${optText(v.options)} on ${addrText(v.addr)}), which ${udp ? 'bound' : 'listened'} first`;
  const notes = new Map<number, string>([[c.events.length, `hijack: ${thief} (uid ${UIDS[t.uid]}) gets it; without ${thief}, ${victim} (uid ${UIDS[v.uid]}) would`]]);
  return {
    kind: 'hijack', summary, occurrences: h.count,
    file: `${String(number).padStart(2, '0')}-${udp ? 'udp-' : ''}hijack-${victim}-by-${thief}.yaml`,
    scenario: toYaml(c, {
      name: `${policyName}: ${PROCESS(t.uid)} hijacks ${addrText(h.target)}:8080 from ${PROCESS(v.uid)}`,
      description: `bindlab audit finding: ${summary}.`,
      policiesYaml, results: r, notes,
    }),
  };
}

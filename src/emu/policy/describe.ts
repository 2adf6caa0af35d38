// A policy as plain data for `bindlab policies`: title, rules in words with citations, sources
// and the points its sources leave open (UNCONFIRMED).

import { isCustomPolicy } from './custom.js';
import { builtinRules, RULE_SPECS, type RuleName, type RuleSet } from './rules.js';
import type { Policy, Routing } from './types.js';

export interface RuleLine {
  readonly rule: RuleName;
  readonly value: string;
  readonly means: string;
  readonly source: string;
  /** Custom policies: whether the user changed it from the base. */
  readonly changed?: boolean;
}

/** One routing choice of a policy (types.ts Routing) in words, with its source. */
export interface RoutingLine {
  readonly aspect: keyof Routing;
  readonly value: string;
  readonly means: string;
  readonly source: string;
}

export interface PolicyDescription {
  readonly name: string;
  readonly title: string;
  /** Custom policies: the base. */
  readonly extends?: string;
  /** Absent when the policy is not described in the rule vocabulary. */
  readonly rules?: readonly RuleLine[];
  readonly sources: readonly string[];
  /** How the OS routes what bindlab observes (docs/policies/<policy>.md#routing). */
  readonly routing: readonly RoutingLine[];
  readonly unconfirmed: readonly string[];
  readonly timeWaitSeconds: number;
}

/** Each routing question in words, and what each answer means. */
const ROUTING_WORDS: { readonly [K in keyof Routing]: { readonly question: string; readonly answers: Readonly<Record<string, string>> } } = {
  send: { question: 'how a packet with its source set leaves (the SYN-ACK and RST, a connect from a given source)', answers: {
    route: 'by the routing table for the destination, whatever interface holds the source (for an answer: whatever interface the SYN came in on)',
    'source-interface': 'only by routes through the interface holding the source address (strong host send)' } },
  receive: { question: 'a packet for an address of another interface', answers: {
    weak: 'taken on any interface (weak host)', strong: 'dropped unless the host forwards (strong host)' } },
  arp: { question: 'which IPv4 addresses an interface answers ARP for', answers: {
    'any-interface': 'any address of the host', 'own-addresses': 'its own addresses only' } },
  source4: { question: 'the IPv4 source of a connect from an unbound socket', answers: {
    route: 'the route\'s: the first address of the connected subnet, else the interface\'s first',
    'longest-match': 'the outgoing interface\'s address sharing the longest prefix with the next hop' } },
  source6: { question: 'the IPv6 source candidates beyond link-local', answers: {
    'all-interfaces': 'every interface\'s addresses (RFC 6724, rule 5 prefers the outgoing one)',
    'outgoing-interface': 'the outgoing interface\'s addresses only' } },
  lastV4TakesRoutes: { question: 'routes when an interface loses its last IPv4 address', answers: {
    true: 'every IPv4 route through it goes, the default route included', false: 'the other routes stay' } },
  nonlocalConnect: { question: 'connect() from a source bound under ip_nonlocal_bind', answers: {
    true: 'the route decides: IPv4 ENETUNREACH, IPv6 sends', false: 'EADDRNOTAVAIL' } },
  rpFilter: { question: 'the host\'s rp_filter sysctl (reverse-path filtering of IPv4)', answers: {
    true: 'applied: 1 strict, 2 loose, to packets for the host and packets it forwards', false: 'not applied' } },
  linkLocal: { question: 'automatic IPv6 link-local addresses', answers: {
    eui64: 'every interface has fe80:: with the modified EUI-64 of its MAC' } },
};

/** A policy's routing choices in words. */
export function routingLines(r: Routing): RoutingLine[] {
  // An aspect the policy leaves out (rpFilter, linkLocal) is not modelled for it.
  return (Object.keys(ROUTING_WORDS) as (keyof Routing)[]).filter((aspect) => r[aspect] !== undefined).map((aspect) => {
    const choice = r[aspect]!;
    const words = ROUTING_WORDS[aspect]!;
    const value = String(choice.is);
    return { aspect, value, means: `${words.question}: ${words.answers[value] ?? value}`, source: choice.cite };
  });
}

function ruleLines(rules: RuleSet, changed?: Partial<RuleSet>): RuleLine[] {
  return RULE_SPECS.map((spec) => {
    const value = String(rules[spec.name]);
    const c = spec.choices?.[value];
    return {
      rule: spec.name, value,
      means: c?.means ?? spec.question,
      source: c?.source ?? '',
      ...(changed ? { changed: spec.name in changed } : {}),
    };
  });
}

export function describePolicy(p: Policy): PolicyDescription {
  const custom = isCustomPolicy(p) ? p : undefined;
  const builtin = builtinRules(custom ? custom.extends : p.name);
  const rules = custom ? ruleLines(custom.rules, custom.overrides) : builtin ? ruleLines(builtin.rules) : undefined;
  const routing = routingLines(p.routing);
  const notes = [...(builtin?.notes ?? []), ...p.sources.filter((s) => /UNCONFIRMED/.test(s)),
    ...routing.filter((r) => /UNCONFIRMED/.test(r.source)).map((r) => `routing ${r.aspect}: ${r.source}`)];
  return {
    name: p.name, title: p.title,
    ...(custom ? { extends: custom.extends } : {}),
    ...(rules ? { rules } : {}),
    sources: p.sources,
    routing,
    unconfirmed: [...new Set(notes)],
    timeWaitSeconds: p.timeWaitNs / 1e9,
  };
}

export interface RuleDoc {
  readonly rule: RuleName;
  readonly question: string;
  readonly choices: readonly { readonly value: string; readonly means: string; readonly source: string; readonly usedBy: readonly string[] }[];
  readonly valueHint?: string;
  /** For rules without enumerated choices: each described policy's value. */
  readonly values?: Readonly<Record<string, string>>;
}

/** Every rule and choice, with the described policies (among `names`) that make it. */
export function ruleDocs(names: readonly string[]): RuleDoc[] {
  const described = names.filter((n) => builtinRules(n) !== undefined);
  return RULE_SPECS.map((spec) => ({
    rule: spec.name, question: spec.question,
    choices: Object.entries(spec.choices ?? {}).map(([value, c]) => ({
      value, means: c.means, source: c.source,
      usedBy: described.filter((n) => String(builtinRules(n)!.rules[spec.name]) === value),
    })),
    ...(spec.valueHint ? { valueHint: spec.valueHint, values: Object.fromEntries(described.map((n) => [n, String(builtinRules(n)!.rules[spec.name])])) } : {}),
  }));
}

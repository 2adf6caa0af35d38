// `bindlab init --from-capture FILE`: a starter scenario read off a capture, so a newcomer can
// replay their own traffic before writing any YAML. The capture is read once (streamed): every
// SYN's destination, which of those answered (SYN-ACK: a listener; RST: nobody on the port),
// every UDP datagram's destination and its answers (a datagram back: a socket, named by the
// answer's banner, bound where it answered from; ICMP port unreachable: nobody),
// the answering addresses grouped into hosts by MAC address where the link type has one, and the
// clients that sent the SYNs. The scenario keeps the captured addresses; loopback and link-local
// ones, which a scenario interface cannot hold, become addresses of 10.255.0.0/24 (fd00:ff::/64),
// with the --map lines that put them there.

import { isLinkLocal6, isLoopback, makeIp, parseIp, type IpAddr } from '../emu/addr.js';
import { openCapture } from '../pcap/open-capture.js';
import { SUPPORTED_LINK_TYPES } from '../pcap/linktypes.js';
import { decodeSegment, newSegment, SKIP_NOT_TCP } from './segment.js';
import { bannerSocketIn, decodeDatagram, DG_PORT_UNREACHABLE, DG_UDP, newDatagram } from './datagram.js';

const TCP_SYN = 2, TCP_RST = 4, TCP_ACK = 16;
const BANNER = 'bindlab ';
/** Distinct endpoints and addresses remembered (a port scan must not grow the scan without bound). */
const MAX_KEPT = 10_000;

/** A destination address and port that got SYNs: how many, how the server answered, and the sockets its banners named. */
export interface Endpoint {
  readonly addr: IpAddr;
  readonly port: number;
  syns: number;
  accepted: number;
  refused: number;
  /** Socket names from "bindlab HOST/PROC/SOCKET" banners (captures of bindlab's kernel harness). */
  readonly names: Set<string>;
}

/**
 * A UDP destination (address and port) that got datagrams: how many, how many got an answer (a
 * datagram back from its port) or an ICMP port unreachable, and per socket an answer named (its
 * bindlab banner, raw or in a DNS TXT answer), the addresses those answers came from.
 */
export interface UdpEndpoint {
  readonly addr: IpAddr;
  readonly port: number;
  datagrams: number;
  answered: number;
  refused: number;
  /** Addresses answers came from, per socket name ('' for answers that name none). */
  readonly answers: Map<string, Set<string>>;
}

/** What a capture shows of its servers and clients. */
export interface CaptureServers {
  readonly packets: number;
  /** Per destination address and port that got SYNs: how many, and how the server answered. */
  readonly endpoints: ReadonlyMap<string, Endpoint>;
  /** The MAC (hex) that answered from each server address, or sent from each client address ('' without one). */
  readonly macs: ReadonlyMap<string, string>;
  /** Client addresses (sources of SYNs and of datagrams), by text. */
  readonly clients: ReadonlyMap<string, IpAddr>;
  /** Per UDP destination address and port that got datagrams: how they were answered (issue 18). */
  readonly udp: ReadonlyMap<string, UdpEndpoint>;
}

/** Reads the capture: every SYN's destination and how it was answered. Throws CaptureFormatError on bad input. */
export function scanCapture(file: string): CaptureServers {
  const reader = openCapture(file, { linkTypes: SUPPORTED_LINK_TYPES });
  const seg = newSegment();
  const dg = newDatagram();
  const endpoints = new Map<string, Endpoint>();
  const udp = new Map<string, UdpEndpoint>();
  /** UDP flows (client > server) by their tuple, and by client endpoint and server port (an answer from another address of the server). */
  const flows = new Map<string, UdpEndpoint>();
  const byClient = new Map<string, UdpEndpoint>();
  const macs = new Map<string, string>();
  const clients = new Map<string, IpAddr>();
  let packets = 0;
  const addrAt = (fam: 4 | 6, at: number): IpAddr => makeIp(fam, reader.data.subarray(at, at + (fam === 4 ? 4 : 16)));
  const macAt = (at: number): string => (at < 0 ? '' : Buffer.from(reader.data.subarray(at, at + 6)).toString('hex'));
  try {
    while (reader.next()) {
      packets++;
      const fam = decodeSegment(reader.linkType, reader.data, reader.offset, reader.offset + reader.caplen, seg);
      if (fam === SKIP_NOT_TCP) {
        const kind = decodeDatagram(reader.linkType, reader.data, reader.offset, reader.offset + reader.caplen, dg);
        if (kind !== DG_UDP && kind !== DG_PORT_UNREACHABLE) continue;
        const f = dg.family as 4 | 6;
        const src = addrAt(f, dg.srcAt), dst = addrAt(f, dg.dstAt);
        if (kind === DG_PORT_UNREACHABLE) {
          // The quoted datagram's destination had nobody on the port.
          const e = flows.get(`${src.text}|${dg.srcPort}>${dst.text}|${dg.dstPort}`);
          if (e) { e.refused++; macs.set(e.addr.text, macAt(dg.macAt)); }
          continue;
        }
        const answerTo = flows.get(`${dst.text}|${dg.dstPort}>${src.text}|${dg.srcPort}`) ?? byClient.get(`${dst.text}|${dg.dstPort}|${dg.srcPort}`);
        if (answerTo) {
          answerTo.answered++;
          const named = bannerSocketIn(reader.data, dg.payloadAt, dg.payloadAt + dg.payloadCaptured) ?? '';
          let from = answerTo.answers.get(named);
          if (!from) answerTo.answers.set(named, (from = new Set()));
          if (from.size < 64) from.add(src.text);
          macs.set(src.text, macAt(dg.macAt));
          if (!macs.has(answerTo.addr.text) || src.text !== answerTo.addr.text) macs.set(answerTo.addr.text, macAt(dg.macAt));
          continue;
        }
        const key = `${dst.text}|${dg.dstPort}`;
        let e = udp.get(key);
        if (!e && udp.size < MAX_KEPT) udp.set(key, (e = { addr: dst, port: dg.dstPort, datagrams: 0, answered: 0, refused: 0, answers: new Map() }));
        if (!e) continue;
        e.datagrams++;
        if (flows.size < MAX_KEPT) {
          flows.set(`${src.text}|${dg.srcPort}>${key}`, e);
          byClient.set(`${src.text}|${dg.srcPort}|${dg.dstPort}`, e);
        }
        if (!clients.has(src.text) && clients.size < MAX_KEPT) {
          clients.set(src.text, src);
          if (!macs.has(src.text)) macs.set(src.text, macAt(dg.macAt));
        }
        continue;
      }
      if (fam !== 4 && fam !== 6) continue;
      const syn = (seg.flags & TCP_SYN) !== 0, ack = (seg.flags & TCP_ACK) !== 0;
      if (syn && !ack) {
        const dst = addrAt(fam, seg.dstAt);
        const key = `${dst.text}|${seg.dstPort}`;
        let e = endpoints.get(key);
        if (!e && endpoints.size < MAX_KEPT) endpoints.set(key, (e = { addr: dst, port: seg.dstPort, syns: 0, accepted: 0, refused: 0, names: new Set() }));
        if (e) e.syns++;
        const src = addrAt(fam, seg.srcAt);
        if (!clients.has(src.text) && clients.size < MAX_KEPT) {
          clients.set(src.text, src);
          if (!macs.has(src.text)) macs.set(src.text, macAt(seg.macAt));
        }
        continue;
      }
      // An answer from an endpoint that got SYNs: SYN-ACK (a listener) or RST (nobody on the port); a banner names the socket.
      const rst = (seg.flags & TCP_RST) !== 0;
      const banner = seg.payloadCaptured > BANNER.length && Buffer.from(reader.data.subarray(seg.payloadAt, seg.payloadAt + BANNER.length)).toString('latin1') === BANNER;
      if (!(syn && ack) && !rst && !banner) continue;
      const src = addrAt(fam, seg.srcAt);
      const e = endpoints.get(`${src.text}|${seg.srcPort}`);
      if (!e) continue;
      if (banner) {
        const text = Buffer.from(reader.data.subarray(seg.payloadAt, seg.payloadAt + seg.payloadCaptured)).toString('utf8').split(/\r?\n/)[0]!;
        const socket = text.slice(text.lastIndexOf('/') + 1);
        if (socket !== '' && !/\s/.test(socket) && e.names.size < 64) e.names.add(socket);
        continue;
      }
      if (syn) e.accepted++; else e.refused++;
      macs.set(src.text, macAt(seg.macAt));
    }
  } finally {
    reader.close();
  }
  return { packets, endpoints, macs, clients, udp };
}

export interface StarterFromCapture {
  /** The scenario's YAML. */
  readonly text: string;
  /** --map CAPTURED=SCENARIO for the addresses the scenario could not keep (loopback, link-local). */
  readonly maps: readonly string[];
  /** Server hosts, listeners and UDP sockets written. */
  readonly servers: number;
  readonly listeners: number;
  readonly udpSockets: number;
}

/** A scenario address for a captured one that an interface cannot hold (loopback, IPv6 link-local), numbered in order. */
function substitute(a: IpAddr, n: number): string {
  return a.family === 4 ? `10.255.0.${n}` : `fd00:ff::${n.toString(16)}`;
}

const usable = (a: IpAddr): boolean => !isLoopback(a) && !(a.family === 6 && isLinkLocal6(a)) && !a.text.startsWith('::ffff:');

const macText = (hex: string): string => hex.match(/../g)!.join(':');

/** The starter scenario of a scanned capture (see the file comment); `name` is the capture's file name. */
export function starterFromCapture(s: CaptureServers, name: string): StarterFromCapture {
  const answered = [...s.endpoints.values()].filter((e) => e.accepted + e.refused > 0);
  // Server addresses, each once, in the order they first answered; the scenario's address for each.
  const scenarioAddr = new Map<string, string>();
  const maps: string[] = [];
  let next = 1;
  const place = (a: IpAddr): string => {
    let t = scenarioAddr.get(a.text);
    if (t === undefined) {
      t = usable(a) ? a.text : substitute(a, next++);
      scenarioAddr.set(a.text, t);
      if (t !== a.text) maps.push(`${a.text}=${t}`);
    }
    return t;
  };
  // Hosts: the addresses that answered from one MAC are one host; without a MAC, one host per address.
  const hosts = new Map<string, { mac: string; addrs: IpAddr[] }>();
  const udpAnswered = [...s.udp.values()].filter((e) => e.answered + e.refused > 0);
  // A UDP server's answers may come from another of its addresses (a wildcard-bound socket answers from the route's source): those are its host's too.
  const answerAddrs = udpAnswered.flatMap((e) => [...e.answers.values()].flatMap((from) => [...from].flatMap((t) => (t === e.addr.text ? [] : [makeIpOf(t, e.addr)]))));
  for (const e of [...answered, ...udpAnswered, ...answerAddrs.map((addr) => ({ addr }))]) {
    const mac = s.macs.get(e.addr.text) ?? '';
    const key = mac !== '' ? mac : `addr ${e.addr.text}`;
    let h = hosts.get(key);
    if (!h) hosts.set(key, (h = { mac, addrs: [] }));
    if (!h.addrs.some((a) => a.text === e.addr.text)) h.addrs.push(e.addr);
    place(e.addr);
  }
  const lines: string[] = [
    `# Written by bindlab init --from-capture ${name}: the hosts that answered SYNs in the capture,`,
    '# a listener per address and port seen accepting (SYN-ACK), a UDP socket per address and port seen',
    '# answering datagrams (bound to the wildcard when it answered from another address), and the clients.',
    '# Ports that answered with an RST have no listener (refused). Check the guesses marked GUESS',
    '# (prefix lengths, one process per host, uid 0), then:',
    `#   bindlab replay ${name} -s THIS_FILE${maps.map((m) => ` --map ${m}`).join('')} -p linux --check`,
    `name: ${JSON.stringify(`from the capture ${name}`)}`,
    'hosts:',
  ];
  const hostNames: string[] = [];
  let listeners = 0;
  let udpSockets = 0;
  const steps: string[] = [];
  const used = new Set<string>();
  [...hosts.values()].forEach((h, i) => {
    const hostName = hosts.size === 1 ? 'server' : `server${i + 1}`;
    hostNames.push(hostName);
    const addrs = h.addrs.map((a) => `${place(a)}/${a.family === 4 ? 24 : 64}`);
    lines.push(`  ${hostName}:`, '    interfaces:');
    lines.push(`      eth0: { ${h.mac ? `mac: ${macText(h.mac)}, ` : ''}addresses: [${addrs.join(', ')}] }   # GUESS: the prefix lengths`);
    lines.push('    processes:', '      app: { uid: 0 }   # GUESS: one process, as root');
    // Per family and port: a wildcard listener when every address of the host that got SYNs on
    // the port accepted them, else one listener per accepting address.
    const byPort = new Map<string, { family: 4 | 6; port: number; accepted: Endpoint[]; other: number }>();
    for (const e of answered) {
      if (!h.addrs.some((a) => a.text === e.addr.text)) continue;
      const k = `${e.addr.family}|${e.port}`;
      let g = byPort.get(k);
      if (!g) byPort.set(k, (g = { family: e.addr.family, port: e.port, accepted: [], other: 0 }));
      if (e.accepted > 0) g.accepted.push(e); else g.other++;
    }
    for (const g of [...byPort.values()].sort((a, b) => a.port - b.port || a.family - b.family)) {
      if (g.accepted.length === 0) continue;
      const wildcard = g.family === 4 ? '0.0.0.0' : '[::]';
      const binds: [string, Endpoint[]][] = g.other === 0 ? [[wildcard, g.accepted]]
        : g.accepted.map((e) => [e.addr.family === 4 ? place(e.addr) : `[${place(e.addr)}]`, [e]]);
      for (const [b, eps] of binds) {
        // The sockets the banners named (one listener each, a SO_REUSEPORT group when several), else one of our naming.
        const named = [...new Set(eps.flatMap((e) => [...e.names]))].sort();
        const own = `${hostNames.length > 1 ? `${hostName}-` : ''}${g.family === 6 ? 'v6-' : ''}${b === wildcard ? 'any' : b.replace(/[[\]]/g, '')}-${g.port}`;
        // Socket names are the scenario's: one taken on another host gets that host's name in front.
        const socks = (named.length > 0 ? named : [own]).map((n) => (used.has(n) ? `${hostName}-${n}` : n));
        for (const sock of socks) {
          used.add(sock);
          steps.push(`  - socket: ${JSON.stringify(sock)}`, `    process: ${hostName}/app`);
          const opts = [...(g.family === 6 ? ['IPV6_V6ONLY: true'] : []), ...(socks.length > 1 ? ['SO_REUSEPORT: true'] : [])];
          if (g.family === 6) steps.push('    family: inet6');
          if (opts.length) steps.push(`    options: { ${opts.join(', ')} }`);
          steps.push(`  - bind: ${JSON.stringify(sock)}`, `    address: ${JSON.stringify(`${b}:${g.port}`)}`, `  - listen: ${JSON.stringify(sock)}`);
          listeners++;
        }
      }
    }
    udpSockets += udpSocketSteps(h.addrs, udpAnswered, hostName, hostNames.length > 1, place, used, steps);
  });
  // Clients: the sources of SYNs that are not servers, grouped by MAC like the servers.
  const clientHosts = new Map<string, { mac: string; addrs: IpAddr[] }>();
  for (const a of s.clients.values()) {
    if (scenarioAddr.has(a.text) || !usable(a)) continue;
    const mac = s.macs.get(a.text) ?? '';
    const key = mac !== '' ? mac : `addr ${a.text}`;
    let h = clientHosts.get(key);
    if (!h) clientHosts.set(key, (h = { mac, addrs: [] }));
    h.addrs.push(a);
  }
  [...clientHosts.values()].slice(0, 16).forEach((h, i) => {
    lines.push(`  ${clientHosts.size === 1 ? 'client' : `client${i + 1}`}:`, '    interfaces:');
    lines.push(`      eth0: { ${h.mac ? `mac: ${macText(h.mac)}, ` : ''}addresses: [${h.addrs.slice(0, 8).map((a) => `${a.text}/${a.family === 4 ? 24 : 64}`).join(', ')}] }`);
  });
  if (clientHosts.size > 16) lines.push(`  # ... ${clientHosts.size - 16} more client hosts (a replay needs none of them)`);
  lines.push('steps:', ...steps);
  return { text: `${lines.join('\n')}\n`, maps, servers: hosts.size, listeners, udpSockets };
}

/** An address of `like`'s family from its text (an answer's source, as scanned). */
function makeIpOf(text: string, like: IpAddr): IpAddr {
  return parseIp(text) ?? like;
}

/**
 * The UDP sockets of one host (its captured addresses `addrs`) as scenario steps into `steps`;
 * returns how many. Per port: a socket per name the answers gave, bound to the wildcard when it
 * answered datagrams to more than one address or answered from an address other than the one
 * the datagram went to (the route's source: a wildcard socket without IP_PKTINFO), else to that
 * address; without names, one socket of our naming, bound as a listener would be (the wildcard
 * when every address that got datagrams on the port answered, else one per answering address).
 * Sockets sharing a port get SO_REUSEADDR (Linux lets a specific and a wildcard socket share a
 * port only when both have it).
 */
function udpSocketSteps(addrs: readonly IpAddr[], endpoints: readonly UdpEndpoint[], hostName: string, prefix: boolean, place: (a: IpAddr) => string,
  used: Set<string>, steps: string[]): number {
  const mine = endpoints.filter((e) => addrs.some((a) => a.text === e.addr.text));
  const ports = new Map<string, UdpEndpoint[]>();
  for (const e of mine) {
    const k = `${e.addr.family}|${e.port}`;
    const list = ports.get(k);
    if (list) list.push(e); else ports.set(k, [e]);
  }
  let n = 0;
  for (const eps of [...ports.values()].sort((a, b) => a[0]!.port - b[0]!.port || a[0]!.addr.family - b[0]!.addr.family)) {
    const family = eps[0]!.addr.family;
    const port = eps[0]!.port;
    const wildcard = family === 4 ? '0.0.0.0' : '[::]';
    const bindText = (a: IpAddr): string => (family === 4 ? place(a) : `[${place(a)}]`);
    const socks: { name: string; bind: string }[] = [];
    const names = [...new Set(eps.flatMap((e) => [...e.answers.keys()].filter((k) => k !== '')))].sort();
    for (const name of names) {
      const answered = eps.filter((e) => e.answers.has(name));
      const elsewhere = answered.some((e) => [...e.answers.get(name)!].some((from) => from !== e.addr.text));
      socks.push({ name, bind: answered.length > 1 || elsewhere ? wildcard : bindText(answered[0]!.addr) });
    }
    const unnamed = eps.filter((e) => e.answered > 0 && names.every((nm) => !e.answers.has(nm)));
    if (unnamed.length > 0) {
      const own = (b: string): string => `${prefix ? `${hostName}-` : ''}udp-${family === 6 ? 'v6-' : ''}${b === wildcard ? 'any' : b.replace(/[[\]]/g, '')}-${port}`;
      if (eps.every((e) => e.answered > 0) && names.length === 0) socks.push({ name: own(wildcard), bind: wildcard });
      else for (const e of unnamed) socks.push({ name: own(bindText(e.addr)), bind: bindText(e.addr) });
    }
    for (const { name, bind } of socks) {
      const sock = used.has(name) ? `${hostName}-${name}` : name;
      used.add(sock);
      steps.push(`  - socket: ${JSON.stringify(sock)}`, `    process: ${hostName}/app`, '    type: udp');
      const opts = [...(family === 6 ? ['IPV6_V6ONLY: true'] : []), ...(socks.length > 1 ? ['SO_REUSEADDR: true'] : [])];
      if (family === 6) steps.push('    family: inet6');
      if (opts.length) steps.push(`    options: { ${opts.join(', ')} }`);
      steps.push(`  - bind: ${JSON.stringify(sock)}`, `    address: ${JSON.stringify(`${bind}:${port}`)}`);
      n++;
    }
  }
  return n;
}

// `bindlab init --from-capture FILE`: a starter scenario read off a capture, so a newcomer can
// replay their own traffic before writing any YAML. The capture is read once (streamed): every
// SYN's destination, which of those answered (SYN-ACK: a listener; RST: nobody on the port),
// the answering addresses grouped into hosts by MAC address where the link type has one, and the
// clients that sent the SYNs. The scenario keeps the captured addresses; loopback and link-local
// ones, which a scenario interface cannot hold, become addresses of 10.255.0.0/24 (fd00:ff::/64),
// with the --map lines that put them there.

import { isLinkLocal6, isLoopback, makeIp, type IpAddr } from '../emu/addr.js';
import { openCapture } from '../pcap/open-capture.js';
import { SUPPORTED_LINK_TYPES } from '../pcap/linktypes.js';
import { decodeSegment, newSegment } from './segment.js';

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

/** What a capture shows of its servers and clients. */
export interface CaptureServers {
  readonly packets: number;
  /** Per destination address and port that got SYNs: how many, and how the server answered. */
  readonly endpoints: ReadonlyMap<string, Endpoint>;
  /** The MAC (hex) that answered from each server address, or sent from each client address ('' without one). */
  readonly macs: ReadonlyMap<string, string>;
  /** Client addresses (sources of SYNs), by text. */
  readonly clients: ReadonlyMap<string, IpAddr>;
}

/** Reads the capture: every SYN's destination and how it was answered. Throws CaptureFormatError on bad input. */
export function scanCapture(file: string): CaptureServers {
  const reader = openCapture(file, { linkTypes: SUPPORTED_LINK_TYPES });
  const seg = newSegment();
  const endpoints = new Map<string, Endpoint>();
  const macs = new Map<string, string>();
  const clients = new Map<string, IpAddr>();
  let packets = 0;
  const addrAt = (fam: 4 | 6, at: number): IpAddr => makeIp(fam, reader.data.subarray(at, at + (fam === 4 ? 4 : 16)));
  const macAt = (at: number): string => (at < 0 ? '' : Buffer.from(reader.data.subarray(at, at + 6)).toString('hex'));
  try {
    while (reader.next()) {
      packets++;
      const fam = decodeSegment(reader.linkType, reader.data, reader.offset, reader.offset + reader.caplen, seg);
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
  return { packets, endpoints, macs, clients };
}

export interface StarterFromCapture {
  /** The scenario's YAML. */
  readonly text: string;
  /** --map CAPTURED=SCENARIO for the addresses the scenario could not keep (loopback, link-local). */
  readonly maps: readonly string[];
  /** Server hosts and listeners written. */
  readonly servers: number;
  readonly listeners: number;
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
  for (const e of answered) {
    const mac = s.macs.get(e.addr.text) ?? '';
    const key = mac !== '' ? mac : `addr ${e.addr.text}`;
    let h = hosts.get(key);
    if (!h) hosts.set(key, (h = { mac, addrs: [] }));
    if (!h.addrs.some((a) => a.text === e.addr.text)) h.addrs.push(e.addr);
    place(e.addr);
  }
  const lines: string[] = [
    `# Written by bindlab init --from-capture ${name}: the hosts that answered SYNs in the capture,`,
    '# a listener per address and port seen accepting (SYN-ACK), and the clients that connected.',
    '# Ports that answered with an RST have no listener (refused). Check the guesses marked GUESS',
    '# (prefix lengths, one process per host, uid 0), then:',
    `#   bindlab replay ${name} -s THIS_FILE${maps.map((m) => ` --map ${m}`).join('')} -p linux --check`,
    `name: ${JSON.stringify(`from the capture ${name}`)}`,
    'hosts:',
  ];
  const hostNames: string[] = [];
  let listeners = 0;
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
  return { text: `${lines.join('\n')}\n`, maps, servers: hosts.size, listeners };
}

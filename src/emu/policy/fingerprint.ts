// How each OS's TCP packets look on the wire: one table row per OS, every value with its source.
// The rules that turn a row into header fields (MSS from the MTU, Linux's windows and window scale
// from tcp_rmem) are small pure functions here too; the wire layer writes what they give.
// p0f's signature database (/etc/p0f/p0f.fp, "tcp:request" and "tcp:response") is the cross-check
// quoted beside each row: p0f reads TTL, options layout, window (as a multiple of the MSS), scale
// and the quirks df (DF set) and id+ (DF set and a non-zero IPv4 ID).

import type { Fingerprint } from './types.js';

/** Linux 2.6+ default net.ipv4.tcp_rmem (min, default, max) [net/ipv4/tcp.c tcp_init: 4096, 131072, 6 MiB on a host with memory to spare]. */
export const LINUX_TCP_RMEM: readonly [number, number, number] = [4096, 131072, 6291456];
/** net.core.rmem_max default (SK_RMEM_MAX: 256 packets of 832 bytes) [net/core/sock.c sysctl_rmem_max]. */
export const LINUX_RMEM_MAX = 212992;

/**
 * The MSS of a path: its MTU less the TCP/IP headers (20 + 20, or 40 + 20) [RFC 9293 §3.7.1], but
 * no more than a 16-bit length field carries: an IPv4 datagram of 65535 bytes, an IPv6 payload of
 * 65535 [net/ipv4/route.c ipv4_default_advmss: IPV4_MAX_PMTU; net/ipv6/route.c ip6_default_advmss:
 * IPV6_MAXPLEN]. Linux's lo (MTU 65536): 65495 and 65476, as its captures show.
 */
export function mssForMtu(mtu: number, family: 4 | 6): number {
  return family === 4 ? Math.min(mtu, 0xffff) - 40 : Math.min(mtu - 60, 0xffff - 20);
}

/** The length of the timestamps option with its two NOPs, which Linux subtracts from the MSS of a SYN-ACK's window [TCPOLEN_TSTAMP_ALIGNED]. */
const TSTAMP_ALIGNED = 12;

/**
 * Linux's initial receive window for a SYN (mss = advertised MSS) or SYN-ACK (mss less the
 * timestamps option): the receive buffer's window share (tcp_rmem[1] × scaling_ratio 128/256),
 * rounded down to a multiple of the MSS, at most 65535 [net/ipv4/tcp_output.c
 * tcp_select_initial_window; tcp_win_from_space with TCP_DEFAULT_SCALING_RATIO; net/ipv4/tcp_minisocks.c
 * tcp_openreq_init_rwin]. Measured on 6.18: 64240 / 65160 (IPv4), 64800 / 64260 (IPv6), 65495 / 65483 (lo).
 */
export function linuxInitialWindow(tcpRmemDefault: number, mss: number, synAck: boolean, timestamps: boolean): number {
  const m = synAck && timestamps ? mss - TSTAMP_ALIGNED : mss;
  let space = Math.floor((tcpRmemDefault * 128) / 256);
  if (space > m) space -= space % m;
  return Math.min(space, 0xffff);
}

/**
 * Linux's window scale: the largest buffer the socket could grow to (tcp_rmem[2] or
 * net.core.rmem_max, whichever is larger) must fit 16 bits of window: ilog2 - 15, 0..14
 * [net/ipv4/tcp_output.c tcp_select_initial_window]. 6 MiB gives 7; 32 MiB gives 10.
 */
export function linuxWindowScale(tcpRmemMax: number, rmemMax: number): number {
  const space = Math.max(tcpRmemMax, rmemMax);
  return Math.min(14, Math.max(0, Math.floor(Math.log2(space)) - 15));
}

/**
 * The window field of Linux's segments after the handshake while the receive buffer has not
 * grown: the initial window rounded up to the scale's unit [net/ipv4/tcp_output.c
 * tcp_select_window: ALIGN(cur_win, 1 << rcv_wscale)]. Measured: 64240 at scale 7 → 502, at 10 → 63.
 */
export function linuxEstablishedWindow(initialWindow: number, scale: number): number {
  return Math.ceil(initialWindow / 2 ** scale);
}

/**
 * Linux 6.x (and 3.11+): SYN and SYN-ACK MSS, SACK_PERM, TS, NOP, WS [net/ipv4/tcp_output.c
 * tcp_options_write: SACK_PERM is packed before TS, WS after a NOP]; TTL and hop limit 64
 * [net.ipv4.ip_default_ttl, IPV6_DEFAULT_HOPLIMIT]; DF on every segment (IP_PMTUDISC_WANT);
 * IPv4 ID per socket from a random start, 0 where no connected socket sends (SYN-ACK, RST, a
 * TIME_WAIT's ACK) [include/net/ip.h ip_select_ident_segs; tcp_v4_connect and
 * tcp_v4_syn_recv_sock: inet_id = get_random_u16()]; IPv6 flow label from the socket's random
 * txhash, one per direction, a new one for each SYN retransmission [net/ipv6/ip6_output.c
 * ip6_make_flowlabel, net.ipv6.auto_flowlabels = 1; sk_rethink_txhash in tcp_write_timeout];
 * data acknowledged at once in the connection's first segments (quick-ack mode)
 * [net/ipv4/tcp_input.c tcp_in_quickack_mode]; initial congestion window 10 [include/net/tcp.h
 * TCP_INIT_CWND]; lo's MTU 65536 [drivers/net/loopback.c]. All checked against 6.18's own
 * captures (docs/packets.md). p0f: SYN "g:unix:Linux:2.2.x-3.x" (window mss*44 is in no
 * specific row); SYN-ACK 65160 = 45 × 1448 matches no Linux row (p0f knows mss*10 and mss*4).
 */
export const LINUX_FINGERPRINT: Fingerprint = {
  ttl: 64, hopLimit: 64, mss: 1460, synWindow: 64240, synAckWindow: 65160, window: 502, windowScale: 7,
  windowRule: 'linux',
  synOptions: ['mss', 'sackPermitted', 'timestamps', 'nop', 'windowScale'],
  synAckOptions: ['mss', 'sackPermitted', 'timestamps', 'nop', 'windowScale'],
  dontFragment: true, ipId: 'per-socket', flowLabel: 'per-direction', quickAck: true, initialCwnd: 10, loopbackMtu: 65536,
};

/**
 * Linux 2.6 (the linux-2.2 policy's 2.6-3.8 era): MSS, SACK_PERM, TS, NOP, WS; window 4 × MSS =
 * 5840, scale 2 [2.6 net/ipv4/tcp_output.c tcp_select_initial_window: "RFC 3390"; p0f
 * "s:unix:Linux:2.6.x" mss*4,2 is not listed, mss*4,6..8 are; "g:unix:Linux:2.4.x-2.6.x" mss*4,*
 * names it]; SYN-ACK 5792 = 4 × 1448; IPv4 ID as 6.x [2.6 ip_select_ident]; no automatic flow
 * labels (auto_flowlabels came in 3.17); initial window 3 segments (RFC 3390; 10 from 2.6.39);
 * lo's MTU 16436 [2.6 drivers/net/loopback.c].
 */
export const LINUX26_FINGERPRINT: Fingerprint = {
  ttl: 64, hopLimit: 64, mss: 1460, synWindow: 5840, synAckWindow: 5792, window: 1460, windowScale: 2,
  synOptions: ['mss', 'sackPermitted', 'timestamps', 'nop', 'windowScale'],
  synAckOptions: ['mss', 'sackPermitted', 'timestamps', 'nop', 'windowScale'],
  dontFragment: true, ipId: 'per-socket', flowLabel: 'zero', quickAck: true, initialCwnd: 3, loopbackMtu: 16436,
};

/**
 * Linux 2.0: MSS only (no SACK, timestamps or window scaling before 2.1/2.2) [2.0
 * net/ipv4/tcp_output.c tcp_send_synack]; window 32120 = 22 × 1460; no DF (no path MTU
 * discovery in 2.0) and a host-wide ID counter [2.0 net/ipv4/ip_output.c ip_id_count++]; lo's
 * MTU 3924 [2.0 drivers/net/loopback.c]. p0f "s:unix:Linux:2.0" is mss*12,0 or 16384,0 with no
 * quirks: 32120 matches neither (p0f's own 2.0 row is of an older release).
 */
export const LINUX20_FINGERPRINT: Fingerprint = {
  ttl: 64, hopLimit: 64, mss: 1460, synWindow: 32120, synAckWindow: 32120, window: 32120, windowScale: 0,
  synOptions: ['mss'], synAckOptions: ['mss'],
  dontFragment: false, ipId: 'host-counter', flowLabel: 'zero', quickAck: false, initialCwnd: 1, loopbackMtu: 3924,
};

/**
 * 4.4BSD-Lite2 with RFC 1323: MSS, NOP, WS, NOP, NOP, TS; 8 KB socket buffers, so window scale 0;
 * TTL 64 (IPDEFTTL) [sys/netinet/tcp_output.c tcp_output; sys/netinet/ip.h IPDEFTTL]; no DF (no
 * path MTU discovery) and a host-wide ID counter [sys/netinet/ip_output.c: ip->ip_id = htons(ip_id++)];
 * slow start from one segment [tcp_input.c: snd_cwnd = maxseg]; lo's MTU 1536 [sys/net/if_loop.c LOMTU].
 */
export const BSD44_FINGERPRINT: Fingerprint = {
  ttl: 64, hopLimit: 64, mss: 1460, synWindow: 8192, synAckWindow: 8192, window: 8192, windowScale: 0,
  synOptions: ['mss', 'nop', 'windowScale', 'nop', 'nop', 'timestamps'],
  synAckOptions: ['mss', 'nop', 'windowScale', 'nop', 'nop', 'timestamps'],
  dontFragment: false, ipId: 'host-counter', flowLabel: 'zero', quickAck: false, initialCwnd: 1, loopbackMtu: 1536,
};

/**
 * FreeBSD 14/15: MSS, NOP, WS, SACK_PERM, TS; window 65535, scale 6 [sys/netinet/tcp_output.c
 * tcp_addoptions; tcp_syncache.c syncache_respond for the SYN-ACK]; DF on (net.inet.tcp.path_mtu_discovery
 * 1) and an ID of 0 on every DF datagram (net.inet.ip.rfc6864 1) [sys/netinet/ip_id.c ip_fillid];
 * IPv6 flow labels random per connection end (net.inet6.ip6.auto_flowlabel 1) [sys/netinet6/in6_pcb.c,
 * tcp_syncache.c sc_flowlabel]; initial window 10 [tcp_cc.c V_tcp_initcwnd_segments]; lo0's MTU
 * 16384 [sys/net/if_loop.c LOMTU]. p0f: "s:unix:FreeBSD:9.x or newer" 65535,6 mss,nop,ws,sok,ts
 * with df,id+; without id+ (rfc6864) p0f still matches it, fuzzily.
 */
export const FREEBSD_FINGERPRINT: Fingerprint = {
  ttl: 64, hopLimit: 64, mss: 1460, synWindow: 65535, synAckWindow: 65535, window: 1026, windowScale: 6,
  synOptions: ['mss', 'nop', 'windowScale', 'sackPermitted', 'timestamps'],
  synAckOptions: ['mss', 'nop', 'windowScale', 'sackPermitted', 'timestamps'],
  dontFragment: true, ipId: 'zero-with-df', flowLabel: 'per-direction', quickAck: false, initialCwnd: 10, loopbackMtu: 16384,
};

/**
 * macOS (XNU): MSS, NOP, WS, NOP, NOP, TS, SACK_PERM, EOL; window 65535, scale 6
 * [bsd/netinet/tcp_output.c tcp_output] (the EOL is the padding to a 4-byte multiple); DF on
 * (path MTU discovery) and random IPv4 IDs [bsd/netinet/ip_output.c: ip_randomid()]; IPv6 flow
 * labels random per socket (ip6_auto_flowlabel 1) [bsd/netinet6/in6_pcb.c]; lo0's MTU 16384
 * [bsd/net/if_loop.c LOMTU]; initial window 10 (UNCONFIRMED). p0f: "g:unix:Mac OS X" 65535,*
 * mss,nop,ws,nop,nop,ts,sok,eol+1 df,id+.
 */
export const MACOS_FINGERPRINT: Fingerprint = {
  ttl: 64, hopLimit: 64, mss: 1460, synWindow: 65535, synAckWindow: 65535, window: 2058, windowScale: 6,
  synOptions: ['mss', 'nop', 'windowScale', 'nop', 'nop', 'timestamps', 'sackPermitted'],
  synAckOptions: ['mss', 'nop', 'windowScale', 'nop', 'nop', 'timestamps', 'sackPermitted'],
  dontFragment: true, ipId: 'random', flowLabel: 'per-direction', quickAck: false, initialCwnd: 10, loopbackMtu: 16384,
};

/**
 * A Windows 10 SYN: TTL 128, MSS, NOP, WS, NOP, NOP, SACK_PERM and no timestamps (Tcp1323Opts
 * default), window 64240, scale 8. DefaultTTL 128 [KB 314053 DefaultTTL]; the rest is the commonly
 * observed Windows 10 SYN, UNCONFIRMED from a primary source; the SYN-ACK layout, its 65535
 * window, the IPv6 hop limit 128, the post-handshake window 1026 (x256), DF with a host-wide ID
 * counter, zero flow labels and the loopback MTU likewise. p0f: "g:win:Windows:NT kernel" *,*
 * mss,nop,ws,nop,nop,sok df,id+.
 */
export const WINDOWS_FINGERPRINT: Fingerprint = {
  ttl: 128, hopLimit: 128, mss: 1460, synWindow: 64240, synAckWindow: 65535, window: 1026, windowScale: 8,
  synOptions: ['mss', 'nop', 'windowScale', 'nop', 'nop', 'sackPermitted'],
  synAckOptions: ['mss', 'nop', 'windowScale', 'nop', 'nop', 'sackPermitted'],
  dontFragment: true, ipId: 'host-counter', flowLabel: 'zero', quickAck: false, initialCwnd: 10, loopbackMtu: 65536,
};

/**
 * illumos: SYN MSS, then SACK_PERM in place of the NOPs before TS, then NOP, WS; SYN-ACK: the
 * header template's SACK_PERM+TS first, then MSS, NOP, WS [usr/src/uts/common/inet/tcp/tcp_output.c
 * tcp_xmit_mp_aux_iss]. The receive buffer is 128000 bytes [tcp_tunables.c recv_buf,
 * TCP_RECV_HIWATER], rounded up to a multiple of the MSS (88 × 1460 = 128480) and advertised
 * shifted by the smallest scale that fits 16 bits: 1, so 64240 [tcp.c tcp_rwnd_set, MSS_ROUNDUP;
 * tcp_set_ws_value]. TTL 64 [tcp_tunables.c _ipv4_ttl]; hop limit IPV6_DEFAULT_HOPS 60 (UNCONFIRMED
 * value); DF with an ID counter (per destination in illumos: dce_ident; host-wide here); no flow
 * labels; initial window 4 segments [tcp_tunables.c _slow_start_initial]; lo0's MTU 8232.
 * p0f has no illumos or Solaris 11 row: these fields are exactly its "s:unix:Linux:(Android)"
 * row (mss*44,1 mss,sok,ts,nop,ws df,id+), which is what p0f says of a real illumos SYN too.
 */
export const ILLUMOS_FINGERPRINT: Fingerprint = {
  ttl: 64, hopLimit: 60, mss: 1460, synWindow: 64240, synAckWindow: 64240, window: 64240, windowScale: 1,
  synOptions: ['mss', 'sackPermitted', 'timestamps', 'nop', 'windowScale'],
  synAckOptions: ['sackPermitted', 'timestamps', 'mss', 'nop', 'windowScale'],
  dontFragment: true, ipId: 'host-counter', flowLabel: 'zero', quickAck: false, initialCwnd: 4, loopbackMtu: 8232,
};

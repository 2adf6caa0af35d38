// How each OS routes what bindlab observes (types.ts Routing, src/emu/routing.ts), one cited
// choice per question. The same in words: docs/policies/<policy>.md#routing.

import type { Routing } from './types.js';

const CABLE_GUY = 'Microsoft "Strong and Weak Host Models" (The Cable Guy, TechNet Magazine, September 2007, https://go.microsoft.com/fwlink/p/?linkid=178004)';

/** Linux 3.9 and later, checked against 6.18 (docs/kernel-observations.md#11-a-sixth-hunt-several-interfaces-address-churn-sysctls-2026-12-06). */
export const LINUX_ROUTING: Routing = {
  send: { is: 'route', cite: 'net/ipv4/inet_connection_sock.c inet_csk_route_req (SYN-ACK), net/ipv4/tcp_ipv4.c tcp_v4_send_reset (RST), net/ipv6/inet6_connection_sock.c inet6_csk_route_req; a device-bound listener answers out of its device; checked on 6.18 (scenarios/return-route.yaml)' },
  receive: { is: 'weak', cite: 'net/ipv4/route.c ip_route_input_slow: the local table holds every address of the host, so RTN_LOCAL whatever the input device (rp_filter only checks the source)' },
  arp: { is: 'any-interface', cite: 'net/ipv4/arp.c arp_process: a request for any RTN_LOCAL address is answered; arp_ignore defaults to 0 ("reply for any local target IP address, configured on any interface", Documentation/networking/ip-sysctl.rst)' },
  source4: { is: 'route', cite: 'net/ipv4/fib_frontend.c fib_add_ifaddr: the connected route\'s prefsrc is its subnet\'s primary address; net/ipv4/route.c ip_route_output_key_hash_rcu' },
  source6: { is: 'all-interfaces', cite: 'net/ipv6/addrconf.c ipv6_dev_get_saddr: every device\'s addresses for a destination beyond link-local, ranked by RFC 6724; checked on 6.18 (scenarios/source6-any-interface.yaml)' },
  lastV4TakesRoutes: { is: true, cite: 'net/ipv4/fib_frontend.c fib_inetaddr_event: the last address gone, fib_disable_ip; checked on 6.18 (scenarios/last-address-routes.yaml)' },
  nonlocalConnect: { is: true, cite: 'net/ipv4/route.c ip_route_output_key_hash_rcu (a non-local IPv4 source: ENETUNREACH), net/ipv6/ip6_output.c ip6_dst_lookup_tail (IPv6 keeps it); checked on 6.18 (scenarios/nonlocal-connect.yaml)' },
  rpFilter: { is: true, cite: 'net/ipv4/fib_frontend.c fib_validate_source: rp_filter = max(conf.all, conf.IF), 1 strict, 2 loose (Documentation/networking/ip-sysctl.rst rp_filter); checked on 6.18 (scenarios/asymmetric-return.yaml)' },
  linkLocal: { is: 'eui64', cite: 'net/ipv6/addrconf.c addrconf_addr_gen: addr_gen_mode 0 (EUI-64 of the MAC, ipv6_generate_eui64) by default; checked on 6.18 (scenarios/link-local-source.yaml)' },
};

/** Linux 2.2 .. 3.8, read in the 2.4 and 2.6 forms. */
export const LINUX22_ROUTING: Routing = {
  send: { is: 'route', cite: '2.6 net/ipv4/inet_connection_sock.c inet_csk_route_req: the route to the client, the listener\'s device as the output device (2.2 tcp_v4_send_synack not read: UNCONFIRMED, docs/policies/linux-2.2.md#routing)' },
  receive: { is: 'weak', cite: '2.6 net/ipv4/route.c ip_route_input_slow: the local table answers RTN_LOCAL for any address of the host on any device' },
  arp: { is: 'any-interface', cite: '2.4/2.6 net/ipv4/arp.c arp_rcv: ip_route_input of the target gives RTN_LOCAL for any local address and the request is answered (arp_ignore, 2.6.4 on, defaults to 0)' },
  source4: { is: 'route', cite: '2.6 net/ipv4/fib_frontend.c fib_add_ifaddr: the connected route\'s prefsrc is its subnet\'s primary address' },
  source6: { is: 'outgoing-interface', cite: 'UNCONFIRMED: 2.x net/ipv6/addrconf.c ipv6_get_saddr not read; the outgoing interface\'s addresses as before (docs/policies/linux-2.2.md#routing)' },
  lastV4TakesRoutes: { is: true, cite: '2.4 net/ipv4/fib_frontend.c fib_inetaddr_event: "Last address was deleted from this interface. Disable IP." (fib_disable_ip)' },
  nonlocalConnect: { is: false, cite: 'UNCONFIRMED: how 2.x net/ipv4/route.c ip_route_output_slow treats a non-local source is not read; EADDRNOTAVAIL as before (docs/policies/linux-2.2.md#routing)' },
};

/** Linux 1.3.60 / 2.0 (NET3), also the 1999 proposal's base. */
export const LINUX20_ROUTING: Routing = {
  send: { is: 'route', cite: '2.0 net/ipv4/ip_output.c ip_build_header: ip_rt_route(daddr) picks the device by the destination alone' },
  receive: { is: 'weak', cite: '2.0 net/ipv4/ip_input.c ip_rcv: ip_chk_addr(daddr) checks every device\'s address' },
  arp: { is: 'own-addresses', cite: '2.0 net/ipv4/arp.c arp_rcv: "Only reply for the real device address or when it\'s in our proxy tables" (tip != dev->pa_addr; an alias device on the same card answers for itself)' },
  source4: { is: 'route', cite: '2.0 net/ipv4/ip_output.c ip_build_header: the route\'s source, the output device\'s address (rt->rt_dev->pa_addr)' },
  source6: { is: 'outgoing-interface', cite: 'no IPv6 in Linux 2.0 (docs/policies/linux-1.3.60.md#routing)' },
  lastV4TakesRoutes: { is: false, cite: 'UNCONFIRMED: 2.0 net/ipv4/route.c on an address going away not read; routes stay (docs/policies/linux-1.3.60.md#routing)' },
  nonlocalConnect: { is: false, cite: 'no ip_nonlocal_bind sysctl in Linux 2.0 (docs/policies/linux-1.3.60.md#routing)' },
};

export const BSD44_ROUTING: Routing = {
  send: { is: 'route', cite: '4.4BSD-Lite2 sys/netinet/ip_output.c ip_output: rtalloc on ip_dst alone (the SYN-ACK by tcp_output with the new inpcb\'s route, the RST by tcp_respond)' },
  receive: { is: 'weak', cite: '4.4BSD-Lite2 sys/netinet/ip_input.c ipintr: "Check our list of addresses" over every interface\'s addresses' },
  arp: { is: 'own-addresses', cite: '4.4BSD-Lite2 sys/netinet/if_ether.c in_arpinput: only addresses of the receiving interface (ia->ia_ifp == &ac->ac_if), else a proxy entry' },
  source4: { is: 'route', cite: '4.4BSD-Lite2 sys/netinet/in_pcb.c in_pcbconnect: the address of the route\'s interface address (rt_ifa)' },
  source6: { is: 'outgoing-interface', cite: 'no IPv6 in 4.4BSD-Lite2 (docs/policies/bsd44.md#routing)' },
  lastV4TakesRoutes: { is: false, cite: 'UNCONFIRMED: sys/netinet/in.c in_ifscrub removes the address\'s own interface route; other routes through the interface not read, they stay (docs/policies/bsd44.md#routing)' },
  nonlocalConnect: { is: false, cite: 'no ip_nonlocal_bind sysctl in BSD (docs/policies/bsd44.md#routing)' },
};

export const FREEBSD_ROUTING: Routing = {
  send: { is: 'route', cite: 'sys/netinet/tcp_syncache.c syncache_respond: ip_output(m, sc->sc_ipopts, NULL, ...) looks the destination up itself; RSTs sys/netinet/tcp_subr.c tcp_respond → ip_output' },
  receive: { is: 'weak', cite: 'sys/netinet/ip_input.c ip_input: net.inet.ip.rfc1122_strong_es (earlier check_interface) defaults to off' },
  arp: { is: 'own-addresses', cite: 'sys/netinet/if_ether.c in_arpinput: a reply only when the target is an address of the receiving interface (ia->ia_ifp == ifp), else a published proxy entry or arp_proxyall' },
  source4: { is: 'route', cite: 'sys/netinet/in_pcb.c in_pcbladdr: the address of the route\'s interface address' },
  source6: { is: 'all-interfaces', cite: 'sys/netinet6/in6_src.c in6_selectsrc: every interface\'s addresses are candidates, rule 5 prefers the outgoing one (the rule 6 label table is ip6addrctl\'s at boot: UNCONFIRMED, Linux\'s RFC 6724 table used, docs/policies/freebsd.md#routing)' },
  lastV4TakesRoutes: { is: false, cite: 'UNCONFIRMED: sys/netinet/in.c in_scrubprefix removes the address\'s prefix route; other routes through the interface not read, they stay (docs/policies/freebsd.md#routing)' },
  nonlocalConnect: { is: false, cite: 'no ip_nonlocal_bind sysctl in FreeBSD (IP_BINDANY is a socket option; docs/policies/freebsd.md#routing)' },
};

export const MACOS_ROUTING: Routing = {
  send: { is: 'source-interface', cite: 'bsd/netinet/tcp_input.c: the SYN\'s interface scopes the new connection\'s route (tcp_finalize_options → bsd/netinet/tcp_subr.c tcp_rtlookup → rtalloc_scoped) and a RST\'s (tcp_respond, ifscope = rcvif); bsd/netinet/ip_output.c in_selectsrcif: the route must leave by the interface holding the source; bsd/net/route.c rt_lookup_common: a scoped lookup takes only routes through that interface; IPv6 the same (bsd/netinet/tcp_output.c IP6OAF_SELECT_SRCIF, bsd/netinet6/in6_src.c selectroute)' },
  receive: { is: 'weak', cite: 'bsd/netinet/ip_input.c ip_input_check_interface: ip_checkinterface defaults to IP_CHECKINTERFACE_HYBRID_ES, strong only for ipsec and utun interfaces, weak for Ethernet' },
  arp: { is: 'own-addresses', cite: 'bsd/netinet/in_arp.c arp_ip_handle_input: the target must be an address of the receiving interface (best_ia), else a proxy route' },
  source4: { is: 'route', cite: 'bsd/netinet/in_pcb.c in_pcbladdr: the address of the route\'s interface address (rt_ifa)' },
  source6: { is: 'outgoing-interface', cite: 'bsd/netinet6/in6_src.c: ip6_select_src_strong_end = 1, "strong end with source address selection": the outgoing interface\'s addresses only' },
  lastV4TakesRoutes: { is: false, cite: 'UNCONFIRMED: XNU on the last address of an interface not read; routes stay (docs/policies/macos.md#routing)' },
  nonlocalConnect: { is: false, cite: 'no ip_nonlocal_bind sysctl in XNU (docs/policies/macos.md#routing)' },
};

export const ILLUMOS_ROUTING: Routing = {
  send: { is: 'route', cite: 'usr/src/uts/common/inet/ip/ip_tunables.c: hostmodel weak by default (_strict_src_multihoming 0), so usr/src/uts/common/inet/ip/ip_ftable.c routes by the destination without binding to the source\'s interface (tcp_input_listener\'s reply path not read: UNCONFIRMED, docs/policies/illumos.md#routing)' },
  receive: { is: 'weak', cite: 'usr/src/uts/common/inet/ip/ip_tunables.c: _strict_dst_multihoming defaults to 0' },
  arp: { is: 'own-addresses', cite: 'usr/src/uts/common/inet/ip/ip_arp.c arp_process_packet: the target is looked up on the receiving interface (ncec_lookup_illgrp_v4(ill, ...), its IPMP group included)' },
  source4: { is: 'route', cite: 'UNCONFIRMED: ip_select_source_v4 not read; the route\'s address as the BSDs (docs/policies/illumos.md#routing)' },
  source6: { is: 'outgoing-interface', cite: 'UNCONFIRMED: ip_select_source_v6 not read; the outgoing interface\'s addresses (docs/policies/illumos.md#routing)' },
  lastV4TakesRoutes: { is: false, cite: 'UNCONFIRMED: not read; routes stay (docs/policies/illumos.md#routing)' },
  nonlocalConnect: { is: false, cite: 'no ip_nonlocal_bind sysctl in illumos (docs/policies/illumos.md#routing)' },
};

/** Windows Vista / Server 2008 and later: the strong host model on every interface by default. */
export const WINDOWS_ROUTING: Routing = {
  send: { is: 'source-interface', cite: `${CABLE_GUY}: strong host send, the default, sends a packet only out of the interface that holds its source address; weakhostsend per interface lifts it` },
  receive: { is: 'strong', cite: `${CABLE_GUY}: strong host receive, the default, drops a packet for an address of another interface unless the interface forwards or has weakhostreceive` },
  arp: { is: 'own-addresses', cite: 'UNCONFIRMED: no source found on which addresses an interface answers ARP for; its own, as the strong host model and every other policy but Linux (docs/policies/windows.md#routing)' },
  source4: { is: 'longest-match', cite: 'Microsoft KB 969029 (https://support.microsoft.com/kb/969029): prefer the same address, the outgoing interface, the longest prefix shared with the next hop, then with the destination (ties: the first address, UNCONFIRMED)' },
  source6: { is: 'outgoing-interface', cite: 'UNCONFIRMED: RFC 3484 by Microsoft KB 969029, candidates limited to the outgoing interface by strong host send (docs/policies/windows.md#routing)' },
  lastV4TakesRoutes: { is: false, cite: 'UNCONFIRMED: not documented; routes stay (docs/policies/windows.md#routing)' },
  nonlocalConnect: { is: false, cite: 'no ip_nonlocal_bind sysctl in Windows (docs/policies/windows.md#routing)' },
};

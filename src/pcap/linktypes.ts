// Link-layer headers of the link types replay reads (https://www.tcpdump.org/linktypes.html):
// where the IP packet of a captured frame starts. Pure functions over bytes; no allocation.

export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LOOP = 108;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;

/** The link types locateNetworkLayer understands; pass as a reader's `linkTypes` option. */
export const SUPPORTED_LINK_TYPES: readonly number[] = [
  LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LOOP, LINKTYPE_LINUX_SLL,
  LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2,
];

export const LINK_TYPE_NAMES: Readonly<Record<number, string>> = {
  [LINKTYPE_NULL]: 'BSD loopback (NULL)', [LINKTYPE_ETHERNET]: 'Ethernet', [LINKTYPE_RAW]: 'raw IP',
  [LINKTYPE_LOOP]: 'OpenBSD loopback', [LINKTYPE_LINUX_SLL]: 'Linux cooked (SLL)', [LINKTYPE_IPV4]: 'raw IPv4',
  [LINKTYPE_IPV6]: 'raw IPv6', [LINKTYPE_LINUX_SLL2]: 'Linux cooked v2 (SLL2)',
};

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
/** 802.1Q, 802.1ad (QinQ) and the old 0x9100 QinQ tag: 4 bytes each, then the inner EtherType. */
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
const ETHERTYPE_QINQ_OLD = 0x9100;
/** BSD address families for IPv4 and the IPv6 values of Linux, NetBSD/OpenBSD, FreeBSD, Darwin. */
const AF_INET = 2;
const AF_INET6 = new Set([10, 24, 28, 30]);

/** Where a frame's network layer starts; filled in by locateNetworkLayer. */
export interface NetworkLayer {
  /** 4 or 6 for IP; 0 when the frame carries something else; -1 when it is cut before the IP header. */
  family: -1 | 0 | 4 | 6;
  /** Offset of the IP header in the buffer. */
  offset: number;
  /** Offset of the link header's source MAC (Ethernet only), else -1. */
  macOffset: number;
}

export const newNetworkLayer = (): NetworkLayer => ({ family: 0, offset: 0, macOffset: -1 });

/**
 * Decodes the link header of the frame buf[at, end) of the given link type into out and
 * returns out.family. Throws nothing: short frames give -1, other protocols 0.
 */
export function locateNetworkLayer(linkType: number, buf: Uint8Array, at: number, end: number, out: NetworkLayer): number {
  out.macOffset = -1;
  let p = at;
  let proto = -1;
  switch (linkType) {
    case LINKTYPE_ETHERNET: {
      if (end - p < 14) return (out.family = -1);
      out.macOffset = p + 6;
      proto = (buf[p + 12]! << 8) | buf[p + 13]!;
      p += 14;
      while (proto === ETHERTYPE_VLAN || proto === ETHERTYPE_QINQ || proto === ETHERTYPE_QINQ_OLD) {
        if (end - p < 4) return (out.family = -1);
        proto = (buf[p + 2]! << 8) | buf[p + 3]!;
        p += 4;
      }
      break;
    }
    case LINKTYPE_LINUX_SLL:
      if (end - p < 16) return (out.family = -1);
      proto = (buf[p + 14]! << 8) | buf[p + 15]!;
      p += 16;
      break;
    case LINKTYPE_LINUX_SLL2:
      if (end - p < 20) return (out.family = -1);
      proto = (buf[p]! << 8) | buf[p + 1]!;
      p += 20;
      break;
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP: {
      if (end - p < 4) return (out.family = -1);
      // NULL is in the capturing host's byte order: a value in the low bytes of either order.
      const be = ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;
      const le = ((buf[p + 3]! << 24) | (buf[p + 2]! << 16) | (buf[p + 1]! << 8) | buf[p]!) >>> 0;
      const af = linkType === LINKTYPE_LOOP || be < 0x10000 ? be : le;
      p += 4;
      proto = af === AF_INET ? ETHERTYPE_IPV4 : AF_INET6.has(af) ? ETHERTYPE_IPV6 : 0;
      break;
    }
    case LINKTYPE_RAW:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6: {
      if (end - p < 1) return (out.family = -1);
      const version = buf[p]! >>> 4;
      proto = version === 4 ? ETHERTYPE_IPV4 : version === 6 ? ETHERTYPE_IPV6 : 0;
      break;
    }
    default:
      return (out.family = 0);
  }
  out.offset = p;
  // A table, not comparisons: the first ARP frame after a million IPv4 ones takes no path the
  // optimized code has not seen (that would deoptimize it).
  const family = FAMILY_OF_ETHERTYPE[proto & 0xffff]!;
  out.family = family as 0 | 4 | 6;
  return family;
}

/** IP family by EtherType: 4, 6, else 0. */
const FAMILY_OF_ETHERTYPE = new Uint8Array(65536);
FAMILY_OF_ETHERTYPE[ETHERTYPE_IPV4] = 4;
FAMILY_OF_ETHERTYPE[ETHERTYPE_IPV6] = 6;

"""bindlab real-kernel agent, datagram part: UDP sockets' connect, group membership, sends, reads
and replies, and the ICMP errors that come back (src/kernel/run-udp.ts drives them).

A mixin of agent.py's Agent (its socks, udp, pktinfo and icmp_watch fields; its name HOST/PROC).
Only the standard library is used.
"""
import errno
import re
import select
import socket
import struct
import subprocess
import time

SOL_IP = 0
# UDP (include/uapi/linux/in.h, in6.h, errqueue.h; Python's socket module lacks some)
SOL_IPV6 = socket.IPPROTO_IPV6
SO_BROADCAST = 6
IP_PKTINFO = 8
IP_MULTICAST_IF = 32
IP_MULTICAST_LOOP = 34
IP_ADD_MEMBERSHIP = 35
IP_DROP_MEMBERSHIP = 36
IP_MULTICAST_ALL = 49
IPV6_MULTICAST_IF = 17
IPV6_MULTICAST_LOOP = 19
IPV6_JOIN_GROUP = 20
IPV6_LEAVE_GROUP = 21
IPV6_RECVPKTINFO = 49
IPV6_PKTINFO = 50
# Every datagram the harness sends ends with its tag, every reply with the datagram's: copies
# and replies are attributed exactly, late ones included (src/kernel/run-kernel.ts).
DGRAM_TAG = re.compile(rb"\[bl-d#(\d+)\]$")
REPLY_TAG = re.compile(rb"\[bl-r#(\d+)\]$")
DGRAM_TAG_ANY = re.compile(rb"\[bl-d#(\d+)\]")  # in the datagram an ICMP error quotes


def ename(code):
    return errno.errorcode.get(code, "E%d" % code)


def neighbour_state(addr):
    """The NUD state of this namespace's neighbour entry for addr (REACHABLE, INCOMPLETE, FAILED...), or ""."""
    try:
        out = subprocess.run(["ip", "neigh", "show", "to", addr], capture_output=True, timeout=5).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError):
        return ""
    words = out.split()
    for w in ("INCOMPLETE", "FAILED", "REACHABLE", "STALE", "DELAY", "PROBE", "PERMANENT", "NOARP"):
        if w in words:
            return w
    return ""


def ifindex(dev):
    """The index of a kernel interface name; "" or None: 0 (no interface, by route)."""
    if not dev:
        return 0
    try:
        return socket.if_nametoindex(dev)
    except OSError:
        raise OSError(errno.ENODEV, "no interface " + dev)


def not_a_source4(packed):
    """Whether a packed IPv4 address cannot be a source: 0, a group, 255.255.255.255 or one of this
    host's subnet broadcasts (a broadcast route of its local table: the kernel adds one per subnet
    whether or not the address was given a brd)."""
    if packed == bytes(4) or 224 <= packed[0] <= 239 or packed == b"\xff\xff\xff\xff":
        return True
    try:
        out = subprocess.run(["ip", "-4", "route", "show", "table", "local", "type", "broadcast"],
                             capture_output=True, timeout=5).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError):
        out = ""
    return re.search(r"^broadcast %s " % re.escape(socket.inet_ntoa(packed)), out, re.M) is not None


def own_source4(s):
    """The IPv4 source a socket sends from by itself, packed: its bound address, or 0 (the route
    picks) when it is unbound, the wildcard, a group, 255.255.255.255 or one of this host's
    subnet broadcasts (inet_bind leaves inet_saddr 0 for those: __inet_bind, RTN_BROADCAST)."""
    try:
        host = s.getsockname()[0]
    except OSError:
        return bytes(4)
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    if ":" in host:
        return bytes(4)
    packed = socket.inet_aton(host)
    return bytes(4) if not_a_source4(packed) else packed


def sockaddr_text(sa):
    """(host, port[, ...]) as "10.0.0.1:53" or "[fd00::1]:53"; a v4-mapped address as IPv4."""
    host, port = sa[0], sa[1]
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    return ("[%s]:%d" % (host, port)) if ":" in host else ("%s:%d" % (host, port))


class UdpOps:
    # ---- datagram sockets
    def op_udp_connect(self, req):
        """connect(2) of a datagram socket: fixes its peer (and its local address, by route)."""
        s = self.socks.get(req["name"])
        if s is None:
            return {"result": "EBADF"}
        to = req["to"]
        if s.family == socket.AF_INET6 and ":" not in to:
            to = "::ffff:" + to
        try:
            s.connect((to, int(req["port"])))
        except OSError as e:
            return {"result": ename(e.errno)}
        return {"result": "ok", "local": sockaddr_text(s.getsockname())}

    def op_membership(self, req):
        """IP_ADD_MEMBERSHIP / IP_DROP_MEMBERSHIP (struct ip_mreqn) or IPV6_JOIN_GROUP / IPV6_LEAVE_GROUP.

        The interface by index; "" gives index 0, where the kernel takes the route to the group's
        device. An IPv4 group on an AF_INET6 socket goes through the SOL_IP option, as a program would.
        """
        s = self.socks.get(req["name"])
        if s is None:
            return {"result": "EBADF"}
        join = req["verb"] == "join"
        group = req["group"]
        try:
            index = ifindex(req.get("dev"))
            if ":" in group:
                mreq = socket.inet_pton(socket.AF_INET6, group) + struct.pack("=I", index)
                s.setsockopt(SOL_IPV6, IPV6_JOIN_GROUP if join else IPV6_LEAVE_GROUP, mreq)
            else:
                mreq = socket.inet_pton(socket.AF_INET, group) + bytes(4) + struct.pack("=i", index)
                s.setsockopt(SOL_IP, IP_ADD_MEMBERSHIP if join else IP_DROP_MEMBERSHIP, mreq)
        except OSError as e:
            return {"result": ename(e.errno)}
        return {"result": "ok"}

    def op_udp_fresh(self, req):
        """A fresh unconnected datagram socket for a datagram step's `from:` (closed by udp_forget).

        family by destination; options in order (SO_BROADCAST as the step sets it; IP_MULTICAST_IF
        for `interface:`); bound to `source` (and `source_port`) when given, an IPv4 source on an
        AF_INET6 socket as ::ffff:a.b.c.d.
        """
        old = self.socks.pop(req["name"], None)
        if old is not None:
            self.drop(req["name"], old)
        fam = socket.AF_INET6 if req.get("family") == "inet6" else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.setblocking(False)
        self.socks[req["name"]] = s
        self.udp.add(req["name"])
        r = self.set_options(s, req.get("options", []), req["name"])
        if r != "ok":
            return {"result": r}
        if req.get("source"):
            src = req["source"]
            if fam == socket.AF_INET6 and ":" not in src:
                src = "::ffff:" + src
            try:
                s.bind((src, int(req.get("source_port") or 0)))
            except OSError as e:
                return {"result": ename(e.errno)}
        return {"result": "ok"}

    def op_udp_forget(self, req):
        s = self.socks.pop(req["name"], None)
        if s is not None:
            self.drop(req["name"], s)
        return {"result": "ok"}

    def op_icmp_watch(self, req):
        """Opens raw ICMP and ICMPv6 sockets (root): every ICMP error that comes back to this host,
        for any of its sockets, is read by op_udp_poll with the tag of the datagram it quotes."""
        if not self.icmp_watch:
            for fam, proto in ((socket.AF_INET, socket.IPPROTO_ICMP), (socket.AF_INET6, socket.IPPROTO_ICMPV6)):
                r = socket.socket(fam, socket.SOCK_RAW, proto)
                r.setblocking(False)
                self.icmp_watch.append(r)
        return {"result": "ok"}

    def read_icmp(self):
        """The ICMP errors about the harness's datagrams that reached this host: [{tag, what}], what
        being port-unreachable or unreachable (host, net or address unreachable, a router's time
        exceeded)."""
        got = []
        for r in self.icmp_watch:
            v6 = r.family == socket.AF_INET6
            while True:
                try:
                    data = r.recv(65536)
                except (BlockingIOError, InterruptedError):
                    break
                # IPv4 raw sockets see the IP header; ICMPv6 ones start at the ICMPv6 header.
                at = 0 if v6 else (data[0] & 0x0F) * 4
                if len(data) < at + 8:
                    continue
                kind, code = data[at], data[at + 1]
                # A router's time exceeded (IPv4 type 11, ICMPv6 type 3) and ICMPv6 beyond scope (1/2)
                # are "unreachable" too: the datagram cannot get there (docs/scenario-format.md#udp).
                if v6:
                    what = {4: "port-unreachable", 3: "unreachable", 2: "unreachable", 0: "unreachable"}.get(code) if kind == 1 else "unreachable" if kind == 3 else None
                else:
                    what = {3: "port-unreachable", 1: "unreachable", 0: "unreachable"}.get(code) if kind == 3 else "unreachable" if kind == 11 else None
                m = DGRAM_TAG_ANY.search(data, at + 8)
                if what and m:
                    got.append({"tag": int(m.group(1)), "what": what})
        return got

    def op_udp_send(self, req):
        """sendmsg(2) of one datagram per tag, back to back: DATA followed by the tag. Answers each
        send's result (ok or its errno) and the local address the socket then has."""
        s = self.socks.get(req["name"])
        if s is None:
            return {"results": ["EBADF" for _ in req["tags"]], "errors": []}
        out = {"results": []}
        to = req["to"]
        if s.family == socket.AF_INET6 and ":" not in to:
            to = "::ffff:" + to
        # `interface:` goes with each datagram, as the interface index of an IP_PKTINFO /
        # IPV6_PKTINFO message: Linux sends a multicast (before IP_MULTICAST_IF) and a broadcast
        # out of it (udp_sendmsg: ipc.oif), and the socket keeps no trace of it.
        cmsg = []
        try:
            if req.get("dev"):
                index = ifindex(req["dev"])
                if "." not in req["to"]:  # IPv6 (a v4-mapped destination is IPv4 on the wire)
                    cmsg.append((SOL_IPV6, IPV6_PKTINFO, bytes(16) + struct.pack("=I", index)))
                else:
                    # IPv4's ipi_spec_dst replaces the socket's own source (ip_cmsg_send: ipc->addr):
                    # it must carry the source the socket would use itself.
                    cmsg.append((SOL_IP, IP_PKTINFO, struct.pack("=i4s4s", index, own_source4(s), bytes(4))))
        except OSError as e:
            out["results"] = [ename(e.errno) for _ in req["tags"]]
            return out
        data = req.get("data", "").encode()
        for tag in req["tags"]:
            try:
                s.sendmsg([data + ("[bl-d#%d]" % int(tag)).encode()], cmsg, 0, (to, int(req["port"])))
                out["results"].append("ok")
            except OSError as e:
                out["results"].append(ename(e.errno))
        try:
            out["local"] = sockaddr_text(s.getsockname())
        except OSError:
            pass
        return out

    def op_udp_poll(self, req):
        """Reads every datagram socket of this process for wait_ms (non-blocking reads, then select).

        A datagram with a tag: a copy this socket received ({tag, socket, to}); with `reply` and a
        tag in `reply_tags`, the socket answers `bindlab HOST/PROC/SOCKET\r\n` + the tag to its
        source (with IP_PKTINFO / IPV6_RECVPKTINFO on: from the address the datagram came to). A
        reply: who answered, from where as this socket sees it. A read that fails (a connected
        socket's pending ECONNREFUSED, consumed by the read as a server's would be) is noted. With
        op_icmp_watch, the ICMP errors about tagged datagrams that reached this host.
        """
        reply_tags = set(int(t) for t in req.get("reply_tags", []))
        deadline = time.monotonic() + req.get("wait_ms", 0) / 1000.0
        out = {"got": [], "replies": [], "errors": [], "pending": [], "reply_errors": []}
        host, proc = self.name.split("/", 1)
        while True:
            names = [n for n in self.udp if n in self.socks]
            for n in names:
                s = self.socks[n]
                failures = 0
                v6 = s.family == socket.AF_INET6
                while True:
                    try:
                        data, anc, _, src = s.recvmsg(65536, 512)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as e:
                        # A pending error (the ICMP of a datagram this socket sent) ends one read.
                        out["pending"].append({"socket": n, "errno": ename(e.errno)})
                        failures += 1
                        if failures > 8:
                            break
                        continue
                    m = DGRAM_TAG.search(data)
                    if m:
                        tag = int(m.group(1))
                        out["got"].append({"tag": tag, "socket": n, "from": sockaddr_text(src)})
                        if tag in reply_tags:
                            err = self.reply(s, n, anc, src, tag, v6, "bindlab %s/%s/%s\r\n" % (host, proc, n))
                            if err:
                                out["reply_errors"].append({"tag": tag, "socket": n, "errno": err})
                        continue
                    m = REPLY_TAG.search(data)
                    if m:
                        banner = data[: m.start()].decode("utf-8", "replace")
                        out["replies"].append({"tag": int(m.group(1)), "socket": n, "banner": banner, "from": sockaddr_text(src)})
            out["errors"].extend(self.read_icmp())
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            rl = [self.socks[n] for n in names] + self.icmp_watch
            if not rl:
                time.sleep(left)
                return out
            select.select(rl, [], [], min(left, 0.5))

    def reply(self, s, name, anc, src, tag, v6, banner):
        """Answers a datagram; returns None or the send's errno name."""
        payload = banner.encode() + ("[bl-r#%d]" % tag).encode()
        cmsg = []
        if (name, "IP_PKTINFO") in self.pktinfo or (name, "IPV6_RECVPKTINFO") in self.pktinfo:
            for level, kind, raw in anc:
                if (level, kind) == (SOL_IP, IP_PKTINFO) and len(raw) >= 12:
                    # struct in_pktinfo: ifindex, spec_dst (the local address the datagram was for), addr.
                    _, spec_dst, _ = struct.unpack("=i4s4s", raw[:12])
                    cmsg.append((SOL_IP, IP_PKTINFO, struct.pack("=i4s4s", 0, spec_dst, bytes(4))))
                elif (level, kind) == (SOL_IPV6, IPV6_PKTINFO) and len(raw) >= 20:
                    # struct in6_pktinfo: the destination address, ifindex. A group or a broadcast
                    # (an IPv4 one arrives v4-mapped) is no source: the kernel picks, as IPv4's
                    # ipi_spec_dst would give the interface's address.
                    addr = raw[:16]
                    mapped = addr[:12] == bytes(10) + b"\xff\xff"
                    if addr[0] != 0xFF and not (mapped and not_a_source4(addr[12:])):
                        cmsg.append((SOL_IPV6, IPV6_PKTINFO, addr + struct.pack("=I", 0)))
        try:
            s.sendmsg([payload], cmsg, 0, src[:2] if not v6 else src)
        except OSError as e:
            return ename(e.errno)
        return None

    def op_neigh_wait(self, req):
        """Waits (up to wait_ms) while this namespace's neighbour entry for addr is being resolved;
        answers its state: resolved (or none), or failed (nobody answered ARP / NDP)."""
        deadline = time.monotonic() + req.get("wait_ms", 3000) / 1000.0
        while True:
            state = neighbour_state(req["addr"])
            if state != "INCOMPLETE" or time.monotonic() > deadline:
                return {"result": "failed" if state == "FAILED" else state.lower() if state else "none"}
            time.sleep(0.05)

#!/usr/bin/env python3
"""bindlab real-kernel agent: makes the socket calls of one scenario process inside a netns.

Run as `python3 agent.py --mode server --uid U --name HOST/PROC` (or `--mode client`), or
forked by `agent.py --zygote` (see zygote(); the runner's way, src/kernel/agents.ts). It
drops to uid U (gid U, no supplementary groups) right after start, so capabilities are those
of a real unprivileged process; uid 0 stays root. It reads JSON lines on stdin,
{"id": n, "op": ..., ...}, and answers one JSON line per request, {"id": n, ...}.
Errors are errno names (errno.errorcode). Only the standard library is used.
"""
import argparse
import ctypes
import errno
import json
import os
import re
import select
import socket
import struct
import subprocess  # imported as root: an agent that dropped to its uid may not read the stdlib's directory
import sys
import time

SOL_IP = 0
IP_FREEBIND = 15
SO_REUSEPORT = getattr(socket, "SO_REUSEPORT", 15)
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
TCP_INFO = getattr(socket, "TCP_INFO", 11)
TCP_CLOSE = 7

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
# Options that are an int flag: (level, optname).
BOOL_OPTIONS = {
    "SO_REUSEADDR": (socket.SOL_SOCKET, socket.SO_REUSEADDR),
    "SO_REUSEPORT": (socket.SOL_SOCKET, SO_REUSEPORT),
    "SO_BROADCAST": (socket.SOL_SOCKET, SO_BROADCAST),
    "IPV6_V6ONLY": (SOL_IPV6, socket.IPV6_V6ONLY),
    "IP_FREEBIND": (SOL_IP, IP_FREEBIND),
    "IP_MULTICAST_LOOP": (SOL_IP, IP_MULTICAST_LOOP),
    "IP_MULTICAST_ALL": (SOL_IP, IP_MULTICAST_ALL),
    "IP_PKTINFO": (SOL_IP, IP_PKTINFO),
    "IPV6_MULTICAST_LOOP": (SOL_IPV6, IPV6_MULTICAST_LOOP),
    "IPV6_RECVPKTINFO": (SOL_IPV6, IPV6_RECVPKTINFO),
}

_libc = ctypes.CDLL(None, use_errno=True)

# rtnetlink (include/uapi/linux/netlink.h, rtnetlink.h, if_addr.h)
NETLINK_ROUTE = 0
NLMSG_ERROR = 2
RTM_NEWADDR, RTM_DELADDR = 20, 21
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
IFA_ADDRESS, IFA_LOCAL = 1, 2
IFA_F_NODAD = 0x02
RT_SCOPE_HOST = 254


def rtattr(kind, payload):
    """One netlink attribute, padded to 4 bytes."""
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


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


def neighbour_unresolved(addr):
    """Whether this namespace's neighbour entry for addr (or for the gateway its route names) is still INCOMPLETE or has FAILED."""
    try:
        route = subprocess.run(["ip", "route", "get", addr], capture_output=True, timeout=5).stdout.decode("utf-8", "replace").split()
        if "via" in route and route.index("via") + 1 < len(route):
            addr = route[route.index("via") + 1]
        out = subprocess.run(["ip", "neigh", "show", "to", addr], capture_output=True, timeout=5).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError):
        return False
    return any(w in ("INCOMPLETE", "FAILED") for w in out.split())


def ifindex(dev):
    """The index of a kernel interface name; "" or None: 0 (no interface, by route)."""
    if not dev:
        return 0
    try:
        return socket.if_nametoindex(dev)
    except OSError:
        raise OSError(errno.ENODEV, "no interface " + dev)


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
    if ":" in host or host in ("0.0.0.0", "255.255.255.255"):
        return bytes(4)
    packed = socket.inet_aton(host)
    if 224 <= packed[0] <= 239:
        return bytes(4)
    try:
        out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, timeout=5).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError):
        out = ""
    if re.search(r"\bbrd %s\b" % re.escape(host), out):
        return bytes(4)
    return packed


def sockaddr_text(sa):
    """(host, port[, ...]) as "10.0.0.1:53" or "[fd00::1]:53"; a v4-mapped address as IPv4."""
    host, port = sa[0], sa[1]
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    return ("[%s]:%d" % (host, port)) if ":" in host else ("%s:%d" % (host, port))


def ename(code):
    return errno.errorcode.get(code, "E%d" % code)


class Agent:
    def __init__(self, name):
        self.name = name  # HOST/PROC
        self.socks = {}  # socket name -> socket.socket
        self.listening = set()
        self.held = {}  # socket name -> [accepted sockets kept open (close: none)]
        self.client_conns = {}  # connection id -> client socket kept open
        self.inbuf = b""
        self.eof = False
        self.udp = set()  # names of datagram sockets
        self.pktinfo = set()  # (socket name, IP_PKTINFO | IPV6_RECVPKTINFO) set on
        self.icmp_watch = []  # raw ICMP and ICMPv6 sockets (a host's root agent: op_icmp_watch)

    # ---- stdin, read without Python's buffering so select() sees pending lines
    def fill(self, timeout):
        if b"\n" in self.inbuf or self.eof:
            return True
        r, _, _ = select.select([0], [], [], timeout)
        if not r:
            return False
        chunk = os.read(0, 65536)
        if not chunk:
            self.eof = True
        self.inbuf += chunk
        return True

    def next_line(self):
        while b"\n" not in self.inbuf:
            if self.eof:
                return None
            self.fill(None)
        line, self.inbuf = self.inbuf.split(b"\n", 1)
        return line

    def stdin_pending(self):
        if b"\n" in self.inbuf or self.eof:
            return True
        return self.fill(0) and (b"\n" in self.inbuf or self.eof)

    # ---- socket calls
    def set_options(self, s, options, name=None):
        """Applies [[name, value], ...] in order; returns 'ok' or the first errno name.

        Interface-valued options (SO_BINDTODEVICE, IP_MULTICAST_IF, IPV6_MULTICAST_IF) get the
        kernel's interface name; "" unbinds or resets to "by route".
        """
        for opt, value in options:
            try:
                if opt in ("SO_REUSEPORT_LB", "SO_EXCLUSIVEADDRUSE"):
                    return "ENOPROTOOPT"  # Linux has neither option; no syscall
                elif opt in BOOL_OPTIONS:
                    level, optname = BOOL_OPTIONS[opt]
                    s.setsockopt(level, optname, 1 if value else 0)
                    if name is not None and opt in ("IP_PKTINFO", "IPV6_RECVPKTINFO"):
                        (self.pktinfo.add if value else self.pktinfo.discard)((name, opt))
                elif opt == "SO_BINDTODEVICE":
                    dev = (value or "").encode() if isinstance(value, str) else b""
                    s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, dev)
                elif opt == "IP_MULTICAST_IF":
                    # struct ip_mreqn: group and address unused, the interface by index (0: by route).
                    s.setsockopt(SOL_IP, IP_MULTICAST_IF, struct.pack("=4s4si", bytes(4), bytes(4), ifindex(value)))
                elif opt == "IPV6_MULTICAST_IF":
                    s.setsockopt(SOL_IPV6, IPV6_MULTICAST_IF, ifindex(value))
                else:
                    return "ENOPROTOOPT"
            except OSError as e:
                return ename(e.errno)
        return "ok"

    def op_socket(self, req):
        fam = socket.AF_INET6 if req.get("family") == "inet6" else socket.AF_INET
        old = self.socks.pop(req["name"], None)
        if old is not None:
            self.drop(req["name"], old)
        udp = req.get("type") == "udp"
        try:
            s = socket.socket(fam, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        except OSError as e:
            return {"result": ename(e.errno)}
        self.socks[req["name"]] = s
        if udp:
            s.setblocking(False)
            self.udp.add(req["name"])
        return {"result": self.set_options(s, req.get("options", []), req["name"])}

    def op_setsockopt(self, req):
        s = self.socks.get(req["name"])
        if s is None:
            return {"result": "EBADF"}
        return {"result": self.set_options(s, req.get("options", []), req["name"])}

    def op_bind(self, req):
        s = self.socks.get(req["name"])
        if s is None:
            return {"result": "EBADF"}
        # A raw bind(2) with the sockaddr of the address's own family, so that a
        # family mismatch is judged by the kernel, not by Python.
        addr, port = req["addr"], int(req["port"])
        if ":" in addr:
            packed = socket.inet_pton(socket.AF_INET6, addr)
            sa = struct.pack("=H", socket.AF_INET6) + struct.pack("!HI", port, 0) + packed + struct.pack("=I", 0)
        else:
            packed = socket.inet_pton(socket.AF_INET, addr)
            sa = struct.pack("=H", socket.AF_INET) + struct.pack("!H", port) + packed + b"\0" * 8
        buf = ctypes.create_string_buffer(sa, len(sa))
        rc = _libc.bind(s.fileno(), buf, len(sa))
        if rc != 0:
            return {"result": ename(ctypes.get_errno())}
        return {"result": "ok", "local": list(s.getsockname()[:2])}

    def op_listen(self, req):
        s = self.socks.get(req["name"])
        if s is None:
            return {"result": "EBADF"}
        try:
            s.listen(int(req.get("backlog", 128)))
        except OSError as e:
            return {"result": ename(e.errno)}
        s.setblocking(False)
        self.listening.add(req["name"])
        return {"result": "ok", "local": list(s.getsockname()[:2])}

    def drop(self, name, s):
        # Established connections are closed by the server side first, then the socket.
        for c in self.held.pop(name, []):
            try:
                c.close()
            except OSError:
                pass
        self.listening.discard(name)
        self.udp.discard(name)
        self.pktinfo = {p for p in self.pktinfo if p[0] != name}
        s.close()

    def op_close(self, req):
        s = self.socks.pop(req["name"], None)
        if s is None:
            return {"result": "EBADF"}
        n = len(self.held.get(req["name"], []))
        self.drop(req["name"], s)
        return {"result": "ok", "closed_connections": n}

    def op_accept_poll(self, req):
        """Accepts at most one connection on a listening socket of this process.

        Waits up to wait_ms (0: one non-blocking try), and stops early when another
        request arrives on stdin (the runner's way to cancel).
        """
        names = req.get("names") or sorted(self.listening)
        socks = {self.socks[n]: n for n in names if n in self.socks and n in self.listening}
        deadline = time.monotonic() + req.get("wait_ms", 0) / 1000.0
        while True:
            for s, n in socks.items():
                try:
                    c, peer = s.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as e:
                    return {"accepted": None, "error": ename(e.errno)}
                return self.serve(n, c, peer, req)
            left = deadline - time.monotonic()
            if left <= 0 or self.stdin_pending():
                return {"accepted": None}
            rl = list(socks) + [0]
            select.select(rl, [], [], min(left, 0.5))

    def serve(self, name, c, peer, req):
        c.setblocking(True)
        c.settimeout(2.0)
        host, proc = self.name.split("/", 1)
        banner = "bindlab %s/%s/%s\r\n" % (host, proc, name)
        got = b""
        err = None
        try:
            c.sendall(banner.encode())
            want = int(req.get("expect_bytes", 0))
            while len(got) < want:
                chunk = c.recv(65536)
                if not chunk:
                    break
                got += chunk
        except OSError as e:
            err = ename(e.errno) if e.errno else "timeout"
        mode = req.get("close", "client")
        local = list(c.getsockname()[:2])
        if mode == "server":
            c.close()  # server first: this side keeps TIME_WAIT
        elif mode == "client":
            try:
                while c.recv(65536):
                    pass
            except OSError as e:
                err = err or (ename(e.errno) if e.errno else "timeout")
            c.close()
        else:
            self.held.setdefault(name, []).append(c)
        out = {"accepted": name, "peer": list(peer[:2]), "local": local,
               "received": got.decode("utf-8", "replace")}
        if err:
            out["error"] = err
        return out

    # ---- client side
    def op_connect(self, req):
        to = req["to"]
        fam = socket.AF_INET6 if ":" in to else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        try:
            if req.get("source"):
                src = req["source"]
                # A v4-mapped destination is reached from an AF_INET6 socket: an IPv4 source is bound as ::ffff:a.b.c.d
                if fam == socket.AF_INET6 and ":" not in src:
                    src = "::ffff:" + src
                s.bind((src, int(req.get("source_port") or 0)))
        except OSError as e:
            s.close()
            return {"result": "bind:" + ename(e.errno)}
        s.setblocking(False)
        timeout = req.get("timeout_ms", 1000) / 1000.0
        rc = s.connect_ex((to, int(req["port"])))
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            return {"result": self.connect_error(rc)}
        _, w, _ = select.select([], [s], [], timeout)
        if not w:
            s.close()
            # No answer in time: either the SYNs went unanswered ("timeout") or the neighbour
            # never answered ARP / neighbour solicitation ("unreachable"; the kernel would say
            # EHOSTUNREACH after its 3 probes, later than this wait). The neighbour table tells.
            return {"result": "unreachable" if neighbour_unresolved(to) else "timeout"}
        rc = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if rc != 0:
            s.close()
            return {"result": self.connect_error(rc)}
        s.setblocking(True)
        s.settimeout(max(timeout, 2.0))
        local = list(s.getsockname()[:2])
        banner = b""
        try:
            if req.get("send"):
                s.sendall(req["send"].encode())
            while b"\r\n" not in banner:
                chunk = s.recv(4096)
                if not chunk:
                    break
                banner += chunk
        except OSError:
            pass
        mode = req.get("close", "client")
        if mode == "none":
            self.client_conns[req.get("conn")] = s
        elif mode == "server":
            self.finish(s)
        else:
            # Client first: FIN, then wait until the server's FIN has come (we are then in
            # TIME_WAIT and have acked it), so the server side is closed when we answer.
            try:
                s.shutdown(socket.SHUT_WR)
                while s.recv(4096):
                    pass
            except OSError:
                pass
            s.close()
        return {"result": "connected", "banner": banner.decode("utf-8", "replace"), "local": local}

    def connect_error(self, rc):
        if rc == errno.ECONNREFUSED:
            return "refused"
        if rc in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT):
            return "unreachable"
        return ename(rc)

    def finish(self, s):
        """The server closed first: read to its FIN, send ours, wait for its last ACK."""
        try:
            s.settimeout(2.0)
            while s.recv(4096):
                pass
            s.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                info = s.getsockopt(socket.IPPROTO_TCP, TCP_INFO, 8)
                if info[0] == TCP_CLOSE:
                    break
                time.sleep(0.001)
        except OSError:
            pass
        s.close()

    def op_finish(self, req):
        """Connections kept open (close: none) whose server side has just closed them."""
        for cid in req.get("conns", []):
            s = self.client_conns.pop(cid, None)
            if s is not None:
                self.finish(s)
        return {"result": "ok"}

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
        being port-unreachable or unreachable (host, net or address unreachable)."""
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
                if v6:
                    what = {4: "port-unreachable", 3: "unreachable", 0: "unreachable"}.get(code) if kind == 1 else None
                else:
                    what = {3: "port-unreachable", 1: "unreachable", 0: "unreachable"}.get(code) if kind == 3 else None
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
                    # struct in6_pktinfo: the destination address, ifindex. A group is no source: the kernel picks.
                    addr = raw[:16]
                    if addr[0] != 0xFF:
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

    # ---- address steps (root agent of the host)
    def op_address(self, req):
        """Adds or deletes an interface address with one rtnetlink request, as `ip addr` would.

        Answers the kernel's own errno from the NLMSG_ERROR reply (ip prints only its extack
        text, e.g. "Address not found", for EADDRNOTAVAIL).
        """
        fam = socket.AF_INET6 if ":" in req["addr"] else socket.AF_INET
        packed = socket.inet_pton(fam, req["addr"])
        try:
            index = socket.if_nametoindex(req["dev"])
        except OSError:
            return {"result": "ENODEV"}
        add = req["verb"] == "add"
        flags = NLM_F_REQUEST | NLM_F_ACK | (NLM_F_CREATE | NLM_F_EXCL if add else 0)
        ifa_flags = IFA_F_NODAD if add and fam == socket.AF_INET6 else 0
        # iproute2 default_scope(): 127/8 is host scope, anything else universe.
        scope = RT_SCOPE_HOST if add and fam == socket.AF_INET and packed[0] == 127 else 0
        body = struct.pack("=BBBBI", fam, int(req["prefix"]), ifa_flags, scope, index)
        # Both attributes, as `ip addr` sends them: a delete matches address and prefix length.
        body += rtattr(IFA_LOCAL, packed) + rtattr(IFA_ADDRESS, packed)
        msg = struct.pack("=IHHII", 16 + len(body), RTM_NEWADDR if add else RTM_DELADDR, flags, 1, 0) + body
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as nl:
            nl.settimeout(5.0)
            nl.sendto(msg, (0, 0))
            while True:
                data = nl.recv(65536)
                at = 0
                while at + 16 <= len(data):
                    length, kind, _, seq, _ = struct.unpack_from("=IHHII", data, at)
                    if length < 16:
                        break
                    if kind == NLMSG_ERROR and seq == 1:
                        (err,) = struct.unpack_from("=i", data, at + 16)
                        return {"result": "ok" if err == 0 else ename(-err)}
                    at += (length + 3) & ~3

    def op_nop(self, req):
        return {"result": "ok"}

    def run(self):
        while True:
            line = self.next_line()
            if line is None:
                return
            if not line.strip():
                continue
            req = json.loads(line)
            fn = getattr(self, "op_" + req.get("op", ""), None)
            try:
                out = fn(req) if fn else {"error": "unknown op %r" % req.get("op")}
            except Exception as e:  # report, keep serving
                out = {"error": "%s: %s" % (type(e).__name__, e)}
            out["id"] = req.get("id")
            sys.stdout.write(json.dumps(out) + "\n")
            sys.stdout.flush()


CLONE_NEWNET = 0x40000000


def zygote():
    """Starts agents by fork() instead of a new interpreter each (about 0.1 s of CPU apiece).

    Runs as root in the caller's namespaces. Each stdin line {"id", "ns", "uid", "name", "sock",
    "err"} forks a child that connects to the Unix socket `sock` (the runner listens there), enters
    the network namespace /run/netns/<ns> (what `ip netns exec` does for the network), sends its
    stderr to the file `err`, drops to uid (as --uid does) and serves that socket as an agent
    started with `ip netns exec NS python3 agent.py` serves stdin/stdout. Answers {"id", "pid"}
    or {"id", "error"}.
    """
    import signal
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    inbuf = b""
    while True:
        chunk = os.read(0, 65536)
        if not chunk:
            return
        inbuf += chunk
        while b"\n" in inbuf:
            line, inbuf = inbuf.split(b"\n", 1)
            if not line.strip():
                continue
            req = json.loads(line)
            try:
                conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                conn.connect(req["sock"])
                nsfd = os.open("/run/netns/" + req["ns"], os.O_RDONLY)
            except OSError as e:
                out = {"id": req.get("id"), "error": "%s: %s" % (ename(e.errno or 0), e)}
            else:
                pid = os.fork()
                if pid == 0:
                    try:
                        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                        os.setsid()
                        if _libc.setns(nsfd, CLONE_NEWNET) != 0:
                            raise OSError(ctypes.get_errno(), "setns " + req["ns"])
                        os.close(nsfd)
                        err = os.open(req["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                        os.dup2(err, 2)
                        os.dup2(conn.fileno(), 0)
                        os.dup2(conn.fileno(), 1)
                        os.close(err)
                        conn.close()
                        serve(int(req["uid"]), req["name"])
                        os._exit(0)
                    except BaseException as e:  # noqa: BLE001 - the child must never return into the zygote's loop
                        try:
                            os.write(2, ("agent start failed: %s\n" % e).encode())
                        finally:
                            os._exit(1)
                os.close(nsfd)
                conn.close()
                out = {"id": req.get("id"), "pid": pid}
            os.write(1, (json.dumps(out) + "\n").encode())


def serve(uid, name):
    if uid != 0:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    sys.stdout.write(json.dumps({"id": 0, "ready": True, "uid": os.geteuid(), "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    Agent(name).run()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--uid", type=int, default=0)
    ap.add_argument("--name", default="host/proc")
    ap.add_argument("--mode", choices=["server", "client"], default="server")
    ap.add_argument("--zygote", action="store_true", help="start agents by fork (see zygote())")
    a = ap.parse_args()
    if a.zygote:
        zygote()
        return
    serve(a.uid, a.name)


if __name__ == "__main__":
    main()

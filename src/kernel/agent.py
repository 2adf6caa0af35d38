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
import select
import socket
import struct
import subprocess  # imported as root: an agent that dropped to its uid may not read the stdlib's directory
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the sources
# The datagram operations and the helpers they share, imported as root before any fork.
from agent_udp import (  # noqa: E402
    IP_MULTICAST_ALL, IP_MULTICAST_IF, IP_MULTICAST_LOOP, IP_PKTINFO, IPV6_MULTICAST_IF,
    IPV6_MULTICAST_LOOP, IPV6_RECVPKTINFO, SO_BROADCAST, SOL_IP, SOL_IPV6, UdpOps, ename, ifindex,
)

IP_FREEBIND = 15
SO_REUSEPORT = getattr(socket, "SO_REUSEPORT", 15)
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
TCP_INFO = getattr(socket, "TCP_INFO", 11)
TCP_CLOSE = 7

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


class Agent(UdpOps):
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

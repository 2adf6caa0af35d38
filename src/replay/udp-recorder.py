#!/usr/bin/env python3
"""bindlab's UDP recorder agent (src/replay/record-udp-captures.ts): one scenario host's UDP
sockets, or one datagram step's sends, inside a network namespace made for the recording.

  udp-recorder.py server HOST SOCKETS_JSON   # [{"name", "process", "address", "port", "options"}]
  udp-recorder.py client STEP_JSON           # {"to", "port", "data", "count", "reply", "source"?}

The server binds each socket as listed (bind order is the scenario's), prints "ready", then answers
every datagram while its stdin says "reply on" (a datagram step with reply: true comes next), with
the bindlab banner naming the socket: a DNS response carrying it as a TXT record when the datagram
is a DNS query (so the capture stays well-formed DNS on port 53), else `bindlab HOST/PROC/SOCKET`
and CRLF. The reply goes out by sendto() from the receiving socket: the kernel picks its source
address (the bound one, or the route's for a wildcard-bound socket). It prints one line per
datagram received: SOCKET <- ADDR:PORT. The client sends `count` datagrams from one fresh
unconnected socket, each after the last one's reply or 0.3 s, and prints what came back.
Only the standard library is used.
"""
import json
import select
import socket
import struct
import sys
import time

OPTIONS = {
    "SO_REUSEADDR": (socket.SOL_SOCKET, socket.SO_REUSEADDR),
    "SO_REUSEPORT": (socket.SOL_SOCKET, getattr(socket, "SO_REUSEPORT", 15)),
    "SO_BROADCAST": (socket.SOL_SOCKET, socket.SO_BROADCAST),
    "IP_PKTINFO": (socket.IPPROTO_IP, getattr(socket, "IP_PKTINFO", 8)),
}


def dns_answer(query, banner):
    """A DNS response to a one-question query, answering it with one TXT record: the banner."""
    if len(query) < 12 or query[2] & 0x80 or struct.unpack("!H", query[4:6])[0] != 1:
        return None
    end = 12
    while end < len(query) and query[end] != 0:
        end += 1 + query[end]
    end += 5  # the root label, QTYPE and QCLASS
    if end > len(query):
        return None
    text = banner.encode()
    header = query[:2] + b"\x81\x80" + b"\x00\x01\x00\x01\x00\x00\x00\x00"
    record = b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 0, len(text) + 1) + bytes([len(text)]) + text
    return header + query[12:end] + record


def server(host, specs):
    socks = []
    for s in specs:
        sock = socket.socket(socket.AF_INET6 if ":" in s["address"] else socket.AF_INET, socket.SOCK_DGRAM)
        for name, on in s.get("options", {}).items():
            if name in OPTIONS and on:
                level, opt = OPTIONS[name]
                sock.setsockopt(level, opt, 1)
        sock.bind((s["address"], s["port"]))
        socks.append((sock, "%s/%s/%s" % (host, s["process"], s["name"])))
    print("ready", flush=True)
    reply = False
    while True:
        ready, _, _ = select.select([0] + [s for s, _ in socks], [], [])
        for r in ready:
            if r == 0:
                line = sys.stdin.readline()
                if not line:
                    return
                reply = line.strip() == "reply on"
                print("ok", flush=True)
                continue
            for sock, name in socks:
                if sock is r:
                    data, peer = sock.recvfrom(65535)
                    print("%s <- %s:%d" % (name.split("/")[-1], peer[0], peer[1]), flush=True)
                    if reply:
                        banner = "bindlab " + name
                        sock.sendto(dns_answer(data, banner) or (banner + "\r\n").encode(), peer)


def client(step):
    family = socket.AF_INET6 if ":" in step["to"] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    if step.get("source"):
        sock.bind((step["source"], step.get("sourcePort", 0)))
    for _ in range(step["count"]):
        sock.sendto(step["data"].encode("latin-1"), (step["to"], step["port"]))
        deadline = time.monotonic() + 0.3
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                print("nothing", flush=True)
                break
            data, peer = sock.recvfrom(65535)
            print("reply from %s:%d %r" % (peer[0], peer[1], data[-40:]), flush=True)
            break


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(sys.argv[2], json.loads(sys.argv[3]))
    else:
        client(json.loads(sys.argv[2]))

// The scenario `bindlab init` writes: small, commented, and every expectation holds under every
// built-in policy (test/testing/init.test.ts runs it).

export const STARTER_FILE = 'starter.yaml';

export const STARTER_SCENARIO = `# A bindlab scenario: hosts with addresses and processes, then socket calls and connections,
# run once per policy (an OS's bind, listen and listener-lookup rules).
# Format: docs/scenario-format.md in the bindlab package; policies: bindlab policies NAME.
#   bindlab validate starter.yaml     check it
#   bindlab run starter.yaml          the matrix of results; one pcapng per policy in out/
#   bindlab test .                    check every expectation (exit 1 when one fails)
#   bindlab test . --update           write the current results into the expectations
name: starter - a wildcard listener and a listener on one alias
description: >
  One process listens on 0.0.0.0:8080; a second process, of another uid, binds one of the
  host's addresses on the same port. Does that bind succeed, and who gets each connection?
seed: 1                        # same file and seed, same packets (MACs, ISNs, ports)
# policies: [linux]            # default: every built-in policy (bindlab run --help lists them)
hosts:
  server:
    interfaces:
      eth0:
        # The first address of a family is the primary; the rest are aliases.
        addresses: [10.0.0.1/24, 10.0.0.2/24, fd00::1/64]
    processes:
      web: { uid: 1000 }
      other: { uid: 1001 }
  client:
    interfaces:
      eth0: { addresses: [10.0.0.100/24, fd00::100/64] }
steps:
  # A TCP socket owned by server/web; options use their C names.
  - socket: wild
    process: server/web
    options: { SO_REUSEADDR: true }
    expect: ok                 # one value for every policy...
  - bind: wild
    address: 0.0.0.0:8080
    expect: ok
  - listen: wild
    expect: ok

  - socket: alias
    process: server/other
    options: { SO_REUSEADDR: true }
  - bind: alias
    address: 10.0.0.2:8080
    note: a specific address on a port a wildcard listener of another uid already holds
    # ...or one per policy, with an optional default for the rest. Linux refuses; FreeBSD and
    # macOS refuse across uids; 4.4BSD, Windows and illumos let the alias listener in.
    expect: { pajari-1999: ok, bsd44: ok, windows: ok, illumos: ok, default: EADDRINUSE }
  - listen: alias
    note: where the bind failed, listen() binds the socket to an ephemeral port first
    expect: ok

  # A client connects: ARP, SYN, SYN-ACK (or RST), data, the server's banner, FIN handshake.
  # The expectation is the socket that accepted it, or refused, unreachable or timeout.
  - connect: { from: client, to: 10.0.0.2:8080, send: "hello\\r\\n" }
    expect: { pajari-1999: alias, bsd44: alias, windows: alias, illumos: alias, default: wild }
  - connect: { from: client, to: 10.0.0.1:8080 }
    expect: wild
  - connect: { from: client, to: 10.0.0.9:8080 }
    note: nobody has 10.0.0.9, so ARP goes unanswered
    expect: unreachable

  - close: wild
  - connect: { from: client, to: 10.0.0.1:8080 }
    note: no listener left on 10.0.0.1:8080, the server answers RST
    expect: refused`;

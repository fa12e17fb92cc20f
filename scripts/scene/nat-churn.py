#!/usr/bin/env python3
"""Short-connection churn with source-port reuse, each side logging what it saw.

  nat-churn.py server BIND_ADDR PORT LOG            accept forever; per connection read the
                                                    client's 4-byte sequence number, log
                                                    "seq peer_addr peer_port", reply 1 byte, close
  nat-churn.py client SRC DST PORT N LOG [PORTS [BASE]]
                                                    N connections from SRC, source ports cycling
                                                    through PORTS (default 200) ports from BASE (30000);
                                                    log "seq src_port boot_ns" (CLOCK_BOOTTIME,
                                                    taken while the connection is open)

Closing alternates so both conntrack re-open paths happen: even sequence numbers are
reset by the server (the router's entry goes CLOSE by a reply-direction RST and is
re-opened in place by the next SYN), odd ones by the client (the entry is killed and
created anew). IPv6 when the addresses contain ':'.

  nat-churn.py pingd BIND_ADDR LOG                  log "seq peer_addr echo_id" for every echo
                                                    request that arrives (a raw socket: the
                                                    kernel still answers)
  nat-churn.py ping SRC DST N LOG                   N echo requests, each from a new ping socket
                                                    (so a new echo id: a new conntrack entry);
                                                    log "seq echo_id boot_ns" once answered

The echo id is an ICMP flow's "port": the ping socket's own (getsockname), rewritten by
MASQUERADE like a source port. The sequence number travels in the payload.
"""
import socket
import struct
import sys
import time

LINGER_RST = struct.pack("ii", 1, 0)


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def server(bind, port, log):
    s = socket.socket(family(bind), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((bind, port))
    s.listen(4096)
    with open(log, "w", buffering=1) as out:
        print("ready", flush=True)
        while True:
            c, peer = s.accept()
            data = b""
            while len(data) < 4:
                chunk = c.recv(4 - len(data))
                if not chunk:
                    break
                data += chunk
            if len(data) == 4:
                seq = struct.unpack("!I", data)[0]
                out.write("%d %s %d\n" % (seq, peer[0], peer[1]))
                try:
                    c.send(b"k")
                except OSError:
                    pass
                if seq % 2 == 0:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
            c.close()


def client(src, dst, port, n, log, nports=200, base=30000):
    fam = family(src)
    with open(log, "w") as out:
        lines = []
        for seq in range(n):
            sport = base + seq % nports
            while True:
                s = socket.socket(fam, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((src, sport))
                    s.connect((dst, port))
                    break
                except OSError:
                    # The previous connection on this port is not gone yet: wait, same port.
                    s.close()
                    time.sleep(0.001)
            t = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
            s.sendall(struct.pack("!I", seq))
            s.recv(1)
            if seq % 2 == 1:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
            s.close()
            lines.append("%d %d %d\n" % (seq, sport, t))
        out.writelines(lines)


def icmp_proto(fam):
    return socket.IPPROTO_ICMPV6 if fam == socket.AF_INET6 else socket.IPPROTO_ICMP


def pingd(bind, log):
    fam = family(bind)
    s = socket.socket(fam, socket.SOCK_RAW, icmp_proto(fam))
    s.bind((bind, 0))
    request = 128 if fam == socket.AF_INET6 else 8
    with open(log, "w", buffering=1) as out:
        print("ready", flush=True)
        while True:
            data, peer = s.recvfrom(2048)
            if fam == socket.AF_INET:
                data = data[(data[0] & 0x0F) * 4:]  # a raw IPv4 socket hands over the IP header too
            if len(data) >= 12 and data[0] == request:
                echo_id, seq = struct.unpack("!HI", data[4:6] + data[8:12])
                out.write("%d %s %d\n" % (seq, peer[0], echo_id))


def ping(src, dst, n, log):
    fam = family(src)
    request = 128 if fam == socket.AF_INET6 else 8
    with open(log, "w") as out:
        lines = []
        for seq in range(n):
            s = socket.socket(fam, socket.SOCK_DGRAM, icmp_proto(fam))
            s.bind((src, 0))
            echo_id = s.getsockname()[1]
            s.settimeout(1)
            # The kernel fills in the id and the checksum; the 16-bit sequence is the low half of ours.
            packet = struct.pack("!BBHHH", request, 0, 0, 0, seq & 0xFFFF) + struct.pack("!I", seq)
            while True:
                s.sendto(packet, (dst, 0))
                try:
                    s.recv(2048)
                    break
                except socket.timeout:
                    pass  # lost or not yet routable: the same socket, the same id, again
            t = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
            s.close()
            lines.append("%d %d %d\n" % (seq, echo_id, t))
        out.writelines(lines)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "pingd":
        pingd(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "ping":
        ping(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        client(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6],
               int(sys.argv[7]) if len(sys.argv) > 7 else 200, int(sys.argv[8]) if len(sys.argv) > 8 else 30000)

#!/usr/bin/python3
# The socket workloads of sock-workload.sh (see there); runs in containers too.
import os, socket, sys, time, fcntl

# Inside a container, NT_PROC names a host procfs (e.g. /mnt/host/proc): its
# "self" is our pid as the host sees it, which is what the capture records.
PROC = os.environ.get("NT_PROC", "/proc")

def hostpid():
    return int(os.readlink(PROC + "/self"))

def ticks():
    with open(PROC + "/self/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])

def log(path, role, s, peer=None):
    l = s.getsockname(); r = peer or s.getpeername()
    # Report an IPv4-mapped address the way the host's tools (and nettrail) print it: IPv4.
    unmap = lambda a: a[7:] if a.startswith("::ffff:") and "." in a else a
    l = (unmap(l[0]), l[1]); r = (unmap(r[0]), r[1])
    line = f"{role} {hostpid()} {ticks()} {l[0]} {l[1]} {r[0]} {r[1]} {time.clock_gettime_ns(time.CLOCK_BOOTTIME)}\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, line.encode()); os.close(fd)

def connect_once(host, port, logpath):
    s = socket.create_connection((host, port))
    log(logpath, "connect", s)
    os._exit(0)  # exit at once; the kernel closes the socket

def child(fn, *a):
    pid = os.fork()
    if pid == 0:
        try: fn(*a)
        finally: os._exit(1)
    return pid

mode = sys.argv[1]
if mode == "server":
    port, count, logpath = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    # NT_BIND=:: makes a dual-stack listener (IPv4 clients arrive as IPv4-mapped IPv6).
    bind = os.environ.get("NT_BIND", "0.0.0.0")
    ls = socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if ":" in bind:
        ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    ls.bind((bind, port)); ls.listen(128)
    print("ready", flush=True)
    for _ in range(count):
        c, peer = ls.accept()
        log(logpath, "accept", c, peer)
        c.close()
elif mode == "connect":
    host, port, count, logpath = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    for _ in range(count):
        pid = child(connect_once, host, port, logpath)
        os.waitpid(pid, 0)
elif mode == "reuse":
    host, port, logpath = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    first = child(connect_once, host, port, logpath)
    os.waitpid(first, 0)
    # Force the next pid to be `first` again (CRIU's trick), retrying if another fork races us.
    with open("/proc/sys/kernel/ns_last_pid", "r+") as f:
        for attempt in range(200):
            fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0); f.write(str(first - 1)); f.flush()
            pid = os.fork()
            if pid == 0:
                if hostpid() == first:
                    connect_once(host, port, logpath)
                os._exit(3)
            fcntl.flock(f, fcntl.LOCK_UN)
            _, st = os.waitpid(pid, 0)
            if pid == first:
                sys.exit(0)
    sys.exit("could not reuse pid %d" % first)
elif mode == "holdserver":
    # Accept COUNT connections, keep them all open SECONDS, then close them.
    port, count, logpath, secs = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
    ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port)); ls.listen(128)
    print("ready", flush=True)
    held = []
    for _ in range(count):
        c, peer = ls.accept()
        log(logpath, "accept", c, peer)
        held.append(c)
    time.sleep(secs)
    for c in held: c.close()
elif mode == "hold":
    # Connect, log, keep the connection SECONDS, close. With "share", a forked child
    # holds the same socket as long (a socket with two owners).
    host, port, logpath, secs = sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
    share = len(sys.argv) > 6 and sys.argv[6] == "share"
    s = socket.create_connection((host, port))
    log(logpath, "hold", s)
    if share:
        if os.fork() == 0:
            log(logpath, "sharer", s)
            time.sleep(secs); os._exit(0)
    print("connected", flush=True)
    time.sleep(secs)
    s.close()
    if share: os.wait()
elif mode == "udpserver":
    port, count, logpath = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", port))
    print("ready", flush=True)
    for _ in range(count):
        data, peer = s.recvfrom(2048)
        log(logpath, "udprecv", s, peer)
        s.sendto(data, peer)
elif mode == "udpquery":
    host, port, logpath = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01", (host, port))
    data, peer = s.recvfrom(2048)
    # Unconnected: getsockname() has the wildcard address, the route decides the source.
    log(logpath, "udpsend", s, peer)
else:
    sys.exit("unknown mode " + mode)

import Analyzer
import Foundation
import XCTest

/// The resolver probes (bpf/resolver.bpf.c + Sources/Recorder/Resolver.swift)
/// with real programs: names come from private /etc/hosts files (no network),
/// and every lookup must be attributed to the process that made it, with the
/// addresses it got back.
final class ResolverCaptureTests: XCTestCase {
    let scene = packageRoot + "/scripts/scene"

    /// Compiles scripts/scene/resolver-client.c once per run.
    func client() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-tests").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let bin = dir + "/resolver-client"
        try sh("gcc -O2 -o \(bin) \(scene)/resolver-client.c")
        return bin
    }

    /// A dual-stack TCP listener on a random port, alive for `seconds`.
    func listener(seconds: Double) throws -> (port: Int, process: Child) {
        let port = Int.random(in: 20000..<30000)
        let ready = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-listener-\(port).out").path
        let p = try Child(["/bin/bash", "-c", """
            exec $(ls -d /root/.pyenv/versions/3.1*/bin/python3 | head -1) -c '
            import socket, time
            s = socket.socket(socket.AF_INET6); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("::", \(port))); s.listen(64)
            print("ready", flush=True)
            time.sleep(\(seconds))'
            """], stdout: ready)
        try awaitReady(p, ready)
        return (port, p)
    }

    func column(_ t: ResultTable, _ name: String) -> Int { t.columns.firstIndex(of: name)! }

    /// A host process resolves two names from a private /etc/hosts (IPv4 and
    /// IPv6), connects to each and exits within 10 ms; a second process
    /// connects to the same address without resolving anything.
    func testHostProcessResolvesConnectsAndExitsWithin10ms() throws {
        let bin = try client()
        let hosts = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-tests/hosts-\(getpid())").path
        try """
            127.0.0.1 localhost
            127.0.0.77 host-v4.nettrail.test
            ::1 host-v6.nettrail.test
            127.0.0.78 ghbn.nettrail.test

            """.write(toFile: hosts, atomically: true, encoding: .utf8)
        let (port, server) = try listener(seconds: 20)
        defer { server.stop() }
        // The scene needs a process that lives under 10 ms. A busy machine (other tests
        // beside this one) can make the workload itself slower: it is recorded again, up to
        // three times, and the answers are checked on the run that was that short.
        var attempts: [Int] = []
        var out = "", other = "", capture: Capture!, lines: [[String]] = []
        for _ in 0..<3 {
            let live = try LiveCapture()
            // The host's /etc/hosts is untouched: the names exist only in this mount namespace.
            out = try sh("unshare -m sh -c 'mount --bind \(hosts) /etc/hosts && \(bin) \(port) host-v4.nettrail.test host-v6.nettrail.test && \(bin) -g \(port) ghbn.nettrail.test'")
            other = try sh("\(bin) -n \(port) 127.0.0.77")
            usleep(300_000)
            capture = try live.finish().1
            lines = out.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            XCTAssertEqual(lines.count, 3, out)
            attempts.append(lines.count > 1 && lines[1].count > 1 ? Int(lines[1][1]) ?? .max : .max)
            if attempts.last! < 10_000 { break }
        }
        let pid = try XCTUnwrap(UInt32(lines[0][0]))
        XCTAssertLessThan(attempts.last!, 10_000, "the workload must resolve, connect and exit within 10 ms (runs: \(attempts) µs)")

        let t = try DNSQuery.run(capture, DNSFilter(pid: pid))
        let cName = column(t, "name"), cAddr = column(t, "addresses"), cFn = column(t, "function")
        let v4 = t.rows.filter { $0[cName] == .text("host-v4.nettrail.test") }
        XCTAssertEqual(v4.count, 1, t.render(.table))
        XCTAssertEqual(v4.first?[cAddr], .list(["127.0.0.77"]))
        XCTAssertEqual(v4.first?[cFn], .text("getaddrinfo"))
        let v6 = t.rows.filter { $0[cName] == .text("host-v6.nettrail.test") }
        XCTAssertEqual(v6.first?[cAddr], .list(["::1"]), t.render(.table))
        let ghbnPid = try XCTUnwrap(UInt32(lines[2][0]))
        let g = try DNSQuery.run(capture, DNSFilter(name: "GHBN.*", pid: ghbnPid))
        XCTAssertEqual(g.rows.count, 1, g.render(.table))
        XCTAssertEqual(g.rows.first?[cFn], .text("gethostbyname2"))
        XCTAssertEqual(g.rows.first?[cAddr], .list(["127.0.0.78"]))
        // --addr finds it; a pattern that does not match finds nothing.
        XCTAssertEqual(try DNSQuery.run(capture, DNSFilter(addr: "127.0.0.77", pid: pid)).rows.count, 1)
        XCTAssertEqual(try DNSQuery.run(capture, DNSFilter(name: "*.example", pid: pid)).rows.count, 0)

        // connections: the name the owner resolved; none for the process that did not resolve.
        let c = try ConnectionsQuery.run(capture, ConnectionFilter(proto: .tcp))
        let cPid = column(c, "pid"), cRemote = column(c, "remote"), cName2 = column(c, "resolved_name")
        let mine = c.rows.filter { $0[cPid] == .int(Int64(pid)) && $0[column(c, "direction")] == .text("outbound") }
        XCTAssertEqual(mine.count, 2, c.render(.table))
        XCTAssertTrue(mine.contains { $0[cRemote] == .text("127.0.0.77:\(port)") && $0[cName2] == .text("host-v4.nettrail.test") },
                      c.render(.table))
        XCTAssertTrue(mine.contains { $0[cName2] == .text("host-v6.nettrail.test") }, c.render(.table))
        let otherPid = try XCTUnwrap(Int64(other.split(separator: " ").first ?? ""))
        let theirs = c.rows.filter { $0[cPid] == .int(otherPid) }
        XCTAssertEqual(theirs.count, 1, c.render(.table))
        XCTAssertEqual(theirs.first?[cName2], .null, "a name is never borrowed from another process")

        // who on the client's local end names the same lookup.
        let lport = try XCTUnwrap(UInt16(lines[0][4]))
        let w = try WhoQuery.run(capture, at: capture.startBoot + 1, addr: Endpoint(ip: "127.0.0.1", port: lport), proto: .tcp,
                                 slack: 60_000_000_000)
        XCTAssertTrue(w.rows.contains { $0[column(w, "pid")] == .int(Int64(pid)) && $0[column(w, "resolved_name")] == .text("host-v4.nettrail.test") },
                      w.render(.table))
    }

    /// A runc container whose rootfs has its own copy of glibc (another inode
    /// than the host's) resolves names from its own /etc/hosts.
    func testContainerWithItsOwnLibcResolvesFromItsOwnHosts() throws {
        let rootfs = try sh("\(scene)/resolver-rootfs.sh").trimmingCharacters(in: .whitespacesAndNewlines)
        let hostIno = try sh("stat -Lc %i /lib/x86_64-linux-gnu/libc.so.6").trimmingCharacters(in: .whitespacesAndNewlines)
        let ctIno = try sh("stat -Lc %i \(rootfs)/lib/x86_64-linux-gnu/libc.so.6").trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertNotEqual(hostIno, ctIno)
        let id = "nt-dns-\(String(UInt32.random(in: 0..<UInt32.max), radix: 16))"
        let live = try LiveCapture()
        // The first dynamically linked program in the container maps its libc; the
        // recorder probes that file on its exec (5-35 ms, more under load). Then the lookups.
        let out = try sh("""
            \(scene)/runc-run.sh --rootfs \(rootfs) \(id) -- /bin/sh -c \
            'getent passwd root >/dev/null; sleep 0.5; getent hosts ct-v4.nettrail.test; \
            getent hosts ct-v6.nettrail.test; getent hosts ct-both.nettrail.test' 2>/dev/null
            """)
        usleep(300_000)
        let (_, capture) = try live.finish()
        XCTAssertTrue(out.contains("192.0.2.44") && out.contains("2001:db8::44"), out)

        // (Pids inside the container are another namespace's: match by name, container and host pid.)
        let t = try DNSQuery.run(capture, DNSFilter(name: "ct-*.nettrail.test"))
        let cPid = column(t, "pid"), cName = column(t, "name"), cAddr = column(t, "addresses"), cCont = column(t, "container")
        let cRes = column(t, "result")
        func ok(_ name: String) -> [[Value]] { t.rows.filter { $0[cName] == .text(name) && $0[cRes] == .text("ok") } }
        XCTAssertEqual(ok("ct-v4.nettrail.test").map { $0[cAddr] }, [.list(["192.0.2.44"])], t.render(.table))
        XCTAssertEqual(ok("ct-v6.nettrail.test").map { $0[cAddr] }, [.list(["2001:db8::44"])], t.render(.table))
        XCTAssertEqual(ok("ct-both.nettrail.test").count, 1, t.render(.table))
        // Three getent processes, each with its own lookups.
        XCTAssertEqual(Set(t.rows.map { "\($0[cPid])" }).count, 3, t.render(.table))
        XCTAssertTrue(t.rows.allSatisfy { $0[cCont] == .text(id) }, t.render(.table))

        // The container's own libc was probed as a file of its own.
        let index = try DNSIndex(capture)
        XCTAssertTrue(index.probes.contains { $0.event == .armed && String($0.ino) == ctIno }, "\(index.probes)")
        XCTAssertTrue(index.probes.contains { $0.event == .armed && String($0.ino) == hostIno }, "\(index.probes)")
        // Busybox's static shell is said to be static, not pretended probed.
        XCTAssertTrue(index.probes.contains { $0.event == .static && $0.path.hasSuffix("busybox") }, "\(index.probes)")
    }

    /// Every process that ran a dynamically linked program in a fresh root is
    /// either probed from its first resolver call or listed late / missed:
    /// nothing silently unprobed.
    func testFirstProcessOfAFreshLibcIsProbedOrReported() throws {
        let rootfs = try sh("\(scene)/resolver-rootfs.sh").trimmingCharacters(in: .whitespacesAndNewlines)
        // A fresh copy: a libc file no process has mapped yet.
        let fresh = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-tests/fresh-\(getpid())").path
        try sh("rm -rf \(fresh) && cp -a \(rootfs) \(fresh)")
        defer { _ = try? sh("rm -rf \(fresh)") }
        let live = try LiveCapture()
        // The pause before the third: arming a never-seen file takes 5-35 ms (the kernel's first
        // uprobe on it), more on a loaded machine; the third process starts after that.
        let out = try sh("""
            for i in 1 2 3; do
              [ $i = 3 ] && sleep 0.5
              chroot \(fresh) /usr/bin/getent hosts ct-v4.nettrail.test & echo pid $!; wait
            done
            """)
        usleep(300_000)
        let (_, capture) = try live.finish()
        let pids = out.split(separator: "\n").filter { $0.hasPrefix("pid ") }.compactMap { UInt32($0.dropFirst(4)) }
        XCTAssertEqual(pids.count, 3, out)
        let index = try DNSIndex(capture)
        for pid in pids {
            let resolved = index.rows.contains { $0.task.pid == pid && $0.name == "ct-v4.nettrail.test" && $0.addresses == ["192.0.2.44"] }
            let reported = index.probes.contains { $0.pid == pid && ($0.event == .late || $0.event == .miss) }
            XCTAssertTrue(resolved || reported, "pid \(pid): neither a lookup nor a late/miss row\n\(index.probes)")
        }
        // Once armed, later processes are covered from the start.
        XCTAssertTrue(index.rows.contains { $0.task.pid == pids[2] && $0.name == "ct-v4.nettrail.test" }, "\(index.rows)")
    }
}

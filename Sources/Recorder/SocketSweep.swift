import CBPFGlue
import Foundation

/// Has the kernel write the opens it holds back (bpf/sockets.bpf.c, nt_sock_sweep):
/// in each network namespace it lists as holding one, entered through a process
/// that was in it. A namespace no process is in any more cannot be entered: its
/// connections' opens still come with their closes.
final class SocketSweep {
    /// Namespace inode to a /proc path that entered it last time.
    private var paths: [UInt32: String] = [:]

    func run(_ object: BPFObject) throws {
        let map = try object.mapFD("sweep_netns")
        var todo: [(ns: UInt32, pid: UInt32)] = []
        var key: UInt32 = 0, next: UInt32 = 0
        var first = true
        while (first ? bpf_map_get_next_key(map, nil, &next) : bpf_map_get_next_key(map, &key, &next)) == 0 {
            first = false
            var pid: UInt32 = 0
            if bpf_map_lookup_elem(map, &next, &pid) == 0 { todo.append((next, pid)) }
            key = next
        }
        // Taken off the list before the walk: an open kept during it lists its namespace again.
        for t in todo {
            var k = t.ns
            bpf_map_delete_elem(map, &k)
        }
        for t in todo {
            let fd = open(t)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            _ = try NetNamespace.run(in: fd) { try object.runIterator("nt_sock_sweep") }
        }
    }

    /// The namespace `t.ns`, opened; -1 if no process is in it.
    private func open(_ t: (ns: UInt32, pid: UInt32)) -> Int32 {
        for path in [paths[t.ns], "/proc/\(t.pid)/ns/net"].compactMap({ $0 }) {
            if let fd = Self.open(path, expecting: t.ns) { paths[t.ns] = path; return fd }
        }
        paths[t.ns] = nil
        guard let d = opendir("/proc") else { return -1 }
        defer { closedir(d) }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            guard let c = name.utf8.first, c >= 48 && c <= 57 else { continue }
            let path = "/proc/\(name)/ns/net"
            if let fd = Self.open(path, expecting: t.ns) { paths[t.ns] = path; return fd }
        }
        return -1
    }

    private static func open(_ path: String, expecting ns: UInt32) -> Int32? {
        let fd = Foundation.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        var st = stat()
        if fstat(fd, &st) == 0 && UInt32(truncatingIfNeeded: st.st_ino) == ns { return fd }
        close(fd)
        return nil
    }
}

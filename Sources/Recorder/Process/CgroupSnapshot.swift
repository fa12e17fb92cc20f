import Foundation
import Format

/// Every cgroup that exists at start, in every mounted hierarchy, so a process
/// already inside a container when recording starts is still named.
enum CgroupSnapshot {
    struct Hierarchy { let id: UInt32; let mountPoint: String; let root: String }

    /// cgroup2 is hierarchy 0; a v1 mount is matched to its id through the
    /// controllers (or name=) that /proc/self/cgroup lists for it.
    static func hierarchies() -> [Hierarchy] {
        var ids: [Set<String>: UInt32] = [:]
        for line in (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8))?.split(separator: "\n") ?? [] {
            let f = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard f.count == 3, let id = UInt32(f[0]), id != 0 else { continue }
            ids[Set(f[1].split(separator: ",").map(String.init))] = id
        }
        var out: [Hierarchy] = []
        for line in (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8))?.split(separator: "\n") ?? [] {
            // id parent maj:min root mountpoint opts [optional...] - fstype source superopts
            let parts = line.split(separator: " ")
            guard let dash = parts.firstIndex(of: "-"), dash + 3 < parts.count + 1, parts.count > dash + 3 else { continue }
            let fstype = parts[dash + 1], root = unescape(String(parts[3])), mp = unescape(String(parts[4]))
            if fstype == "cgroup2" {
                out.append(Hierarchy(id: 0, mountPoint: mp, root: root))
            } else if fstype == "cgroup" {
                let opts = Set(parts[dash + 3].split(separator: ",").map(String.init))
                if let (_, id) = ids.first(where: { !$0.key.isEmpty && $0.key.isSubset(of: opts) }) {
                    out.append(Hierarchy(id: id, mountPoint: mp, root: root))
                }
            }
        }
        // One walk per hierarchy even when it is mounted twice.
        var seen = Set<UInt32>()
        return out.filter { seen.insert($0.id).inserted }
    }

    static func inode(_ path: String) -> UInt64? {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_ino) : nil
    }

    static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out = "", it = Array(s.utf8), i = 0
        var bytes: [UInt8] = []
        while i < it.count {
            if it[i] == UInt8(ascii: "\\"), i + 3 < it.count,
               let v = UInt8(String(decoding: it[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                bytes.append(v); i += 4
            } else { bytes.append(it[i]); i += 1 }
        }
        out = String(decoding: bytes, as: UTF8.self)
        return out
    }

    /// The v1 hierarchy holding the memory controller (whose ids `cgroup_v1_id`
    /// carries); 0 when memory is on cgroup v2.
    static func memoryHierarchyID() -> UInt32 {
        for line in (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8))?.split(separator: "\n") ?? [] {
            let f = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            if f.count == 3, f[1].split(separator: ",").contains("memory"), let id = UInt32(f[0]) { return id }
        }
        return 0
    }

    /// Writes one row per cgroup directory; the directory's inode is the
    /// cgroup id the kernel (and so every BPF event) uses.
    static func write(into w: TimelineWriter, ts: UInt64) throws -> Int {
        var n = 0
        for h in hierarchies() {
            var stack = [""]
            while let rel = stack.popLast() {
                let dir = h.mountPoint + rel
                var st = stat()
                guard stat(dir, &st) == 0 else { continue }
                let path = h.root == "/" ? (rel.isEmpty ? "/" : rel) : h.root + rel
                try w.cgroupSnapshot(ts: ts, hierarchyID: h.id, cgroupID: UInt64(st.st_ino), path: path)
                n += 1
                guard let d = opendir(dir) else { continue }
                while let ent = readdir(d) {
                    guard ent.pointee.d_type == UInt8(DT_DIR) else { continue }
                    let name = withUnsafeBytes(of: ent.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                    if name == "." || name == ".." { continue }
                    stack.append(rel + "/" + name)
                }
                closedir(d)
            }
        }
        return n
    }
}

import Format
#if canImport(Glibc)
import Glibc
#endif

/// The filters every subcommand spells the same way, applied to an answer's rows by column
/// name: a subcommand whose query does not select by one of them still honours it.
public struct RowFilter: Sendable {
    public var pid: UInt32?
    /// Shell glob on the task name (`comm` column).
    public var comm: String?
    /// Container id (12+ hex prefix) or full name (`container` column).
    public var container: String?
    public init(pid: UInt32? = nil, comm: String? = nil, container: String? = nil) {
        self.pid = pid; self.comm = comm; self.container = container
    }

    public var isEmpty: Bool { pid == nil && comm == nil && container == nil }

    public func apply(_ t: inout ResultTable) {
        guard !isEmpty else { return }
        let p = t.columns.firstIndex(of: "pid"), c = t.columns.firstIndex(of: "comm")
        let k = t.columns.firstIndex(of: "container")
        t.rows.removeAll { row in
            if let pid, let p, row[p] != .int(Int64(pid)) { return true }
            if let comm, let c {
                guard case .text(let s) = row[c], fnmatch(comm, s, 0) == 0 else { return true }
            }
            if let container, let k {
                guard case .text(let s) = row[k], ContainerID.matches(s, prefix: container) else { return true }
            }
            return false
        }
    }
}

extension Capture {
    /// Every container the capture's cgroups name.
    public var containerIDs: [String] {
        Array(Set(cgroups.entries.values.compactMap { $0.container?.id })).sorted()
    }

    /// Why `--container want` may match nothing: an id prefix too short, or no such container
    /// (with the closest names). Empty when it names a container of the capture.
    public func containerNotes(_ want: String?) -> [String] {
        guard let want else { return [] }
        let ids = containerIDs
        if ids.contains(where: { ContainerID.matches($0, prefix: want) }) { return [] }
        let lower = want.lowercased()
        if !lower.isEmpty, lower.count < 12, lower.allSatisfy({ $0.isHexDigit }) {
            let would = ids.filter { $0.lowercased().hasPrefix(lower) }
            return ["--container \(want): an id prefix needs 12 or more characters"
                    + (would.isEmpty ? " (and none of this capture's containers begins with it)"
                                     : " (it begins \(would.prefix(3).map { String($0.prefix(12)) }.joined(separator: ", ")))")]
        }
        if ids.isEmpty { return ["--container \(want): this capture saw no containers"] }
        let closest = ids.sorted { Self.distance(lower, $0.lowercased()) < Self.distance(lower, $1.lowercased()) }.prefix(3)
        return ["--container \(want): no such container in this capture; closest: \(closest.map { $0.count > 20 ? String($0.prefix(12)) + "…" : $0 }.joined(separator: ", ")) (nettrail containers lists them)"]
    }

    /// Edit distance, on a common-length prefix so a short typo is near a long id it begins.
    static func distance(_ a: String, _ b: String) -> Int {
        let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars.prefix(max(a.unicodeScalars.count, 1) + 2))
        var prev = Array(0...y.count)
        for i in 1...max(x.count, 1) where !x.isEmpty {
            var cur = [i] + Array(repeating: 0, count: y.count)
            for j in 1...max(y.count, 1) where !y.isEmpty {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            prev = cur
        }
        return prev[y.count]
    }
}

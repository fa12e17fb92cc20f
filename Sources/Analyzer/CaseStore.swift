import Foundation
import Format

public enum CaseStoreError: Error, CustomStringConvertible {
    case caseIsEvidence(String)
    case cannotCreate(String, String)
    public var description: String {
        switch self {
        case .caseIsEvidence(let p): return "--case \(p) names the capture or one of its files: the evidence is never written"
        case .cannotCreate(let p, let why): return "cannot write the case \(p): \(why)"
        }
    }
}

/// Where a capture's case lives, and whether it is current. A case is keyed by
/// the capture's identity (host, boot, start), so a copied or renamed capture
/// finds its case; it is current only while the capture's size and mtime (its
/// WAL's included) are those it was built from, by this analyzer's case version.
public enum CaseStore {
    /// Part of what makes a case current: a build whose decoding differs rebuilds.
    public static let analyzerVersion = "case-\(CaseSchema.version)"

    static func fileState(_ path: String) -> (size: Int, mtimeNs: Int64) {
        var size = 0, mtime: Int64 = 0
        for p in [path, path + "-wal"] {
            var st = stat()
            guard stat(p, &st) == 0 else { continue }
            size += Int(st.st_size)
            mtime = max(mtime, Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
        }
        return (size, mtime)
    }

    static func identity(_ meta: [String: String]) -> String {
        // A set is one capture whichever member is given and however far it has grown.
        if let id = meta[CaptureSet.Key.id] {
            return ["host_name", "boot_id"].map { meta[$0] ?? "" }.joined(separator: "|") + "|set:" + id
        }
        return ["host_name", "boot_id", "start_boot_ns", "start_wall_ns"].map { meta[$0] ?? "" }.joined(separator: "|")
    }

    /// Each member's state as a case records it.
    static func memberRows(_ set: CaptureSetMembers) -> [CaseMemberRow] {
        set.members.map {
            let st = fileState($0.path)
            return CaseMemberRow(index: $0.index, path: $0.path, size: st.size, mtimeNs: st.mtimeNs)
        }
    }

    /// A capture's size and mtime; a set's members' sizes summed and their latest mtime.
    static func state(_ evidence: TimelineReader, _ members: [CaseMemberRow]?) -> (size: Int, mtimeNs: Int64) {
        guard let members else { return fileState(evidence.path) }
        return (members.reduce(0) { $0 + $1.size }, members.map(\.mtimeNs).max() ?? 0)
    }

    /// $NETTRAIL_CASE_DIR, else $XDG_CACHE_HOME/nettrail/cases, else ~/.cache/nettrail/cases.
    public static func defaultDirectory() -> String {
        let env = ProcessInfo.processInfo.environment
        if let d = env["NETTRAIL_CASE_DIR"], !d.isEmpty { return d }
        if let x = env["XDG_CACHE_HOME"], !x.isEmpty { return x + "/nettrail/cases" }
        if let h = env["HOME"], !h.isEmpty { return h + "/.cache/nettrail/cases" }
        return NSTemporaryDirectory() + "nettrail-cases-\(getuid())"
    }

    static func defaultPath(identity: String) -> String {
        defaultDirectory() + "/" + String(hexString(SHA256.digest(Array(identity.utf8))).prefix(32)) + ".case"
    }

    /// The case's path when it exists, was built from this capture as it is now, and is complete.
    /// For a set, every member as it is now is one the case was built from, and no other.
    static func current(_ casePath: String, identity: String, state: (size: Int, mtimeNs: Int64),
                        members: [CaseMemberRow]?) -> Bool {
        guard FileManager.default.fileExists(atPath: casePath),
              let r = try? TimelineReader(path: casePath, kind: .caseDatabase),
              let row = try? r.caseCapture() else { return false }
        if let members {
            // By index, size and mtime: a copied set (other paths) keeps its case.
            guard let built = try? r.caseMembers(), built.count == members.count,
                  zip(built, members).allSatisfy({ $0.index == $1.index && $0.size == $1.size && $0.mtimeNs == $1.mtimeNs })
            else { return false }
        }
        return row.identity == identity && row.size == state.size && row.mtimeNs == state.mtimeNs
            && row.analyzerVersion == analyzerVersion
    }

    /// A current case for the capture at `evidence`: the one on disk, or one built now
    /// (into a temporary name, renamed into place once complete).
    /// `set`: the capture set `evidence` belongs to; the case is then built from all its members.
    public static func ensure(evidence: TimelineReader, meta: [String: String], set: CaptureSetMembers? = nil,
                              casePath: String?, rebuild: Bool = false,
                              progress: IndexProgress?) throws -> (path: String, built: IndexSummary?) {
        let identity = identity(meta)
        let path = casePath ?? defaultPath(identity: identity)
        let real = URL(fileURLWithPath: path).standardizedFileURL.path
        for file in set?.members.map(\.path) ?? [evidence.path] {
            let evidenceReal = URL(fileURLWithPath: file).standardizedFileURL.path
            if [evidenceReal, evidenceReal + "-wal", evidenceReal + "-shm", evidenceReal + "-journal"].contains(real) {
                throw CaseStoreError.caseIsEvidence(path)
            }
        }
        let members = set.map(memberRows)
        if !rebuild && current(path, identity: identity, state: state(evidence, members), members: members) {
            return (path, nil)
        }
        let dir = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: dir.isEmpty ? "." : dir, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw CaseStoreError.cannotCreate(path, "\(error.localizedDescription)")
        }
        let tmp = path + ".building-\(getpid())"
        defer { unlink(tmp) }
        let summary: IndexSummary
        do {
            summary = try CaseIndexer.build(evidence: evidence, meta: meta, set: set, identity: identity, into: tmp,
                                            progress: progress)
        } catch let e as TimelineWriteError {
            throw CaseStoreError.cannotCreate(path, "\(e)")
        }
        guard rename(tmp, path) == 0 else { throw CaseStoreError.cannotCreate(path, String(cString: strerror(errno))) }
        return (path, summary)
    }
}

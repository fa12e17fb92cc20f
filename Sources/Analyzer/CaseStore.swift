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
        ["host_name", "boot_id", "start_boot_ns", "start_wall_ns"].map { meta[$0] ?? "" }.joined(separator: "|")
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
    static func current(_ casePath: String, identity: String, state: (size: Int, mtimeNs: Int64)) -> Bool {
        guard FileManager.default.fileExists(atPath: casePath),
              let r = try? TimelineReader(path: casePath, kind: .caseDatabase),
              let row = try? r.caseCapture() else { return false }
        return row.identity == identity && row.size == state.size && row.mtimeNs == state.mtimeNs
            && row.analyzerVersion == analyzerVersion
    }

    /// A current case for the capture at `evidence`: the one on disk, or one built now
    /// (into a temporary name, renamed into place once complete).
    public static func ensure(evidence: TimelineReader, meta: [String: String], casePath: String?, rebuild: Bool = false,
                              progress: IndexProgress?) throws -> (path: String, built: IndexSummary?) {
        let identity = identity(meta)
        let path = casePath ?? defaultPath(identity: identity)
        let real = URL(fileURLWithPath: path).standardizedFileURL.path
        let evidenceReal = URL(fileURLWithPath: evidence.path).standardizedFileURL.path
        if [evidenceReal, evidenceReal + "-wal", evidenceReal + "-shm", evidenceReal + "-journal"].contains(real) {
            throw CaseStoreError.caseIsEvidence(path)
        }
        if !rebuild && current(path, identity: identity, state: fileState(evidence.path)) { return (path, nil) }
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
            summary = try CaseIndexer.build(evidence: evidence, meta: meta, identity: identity, into: tmp, progress: progress)
        } catch let e as TimelineWriteError {
            throw CaseStoreError.cannotCreate(path, "\(e)")
        }
        guard rename(tmp, path) == 0 else { throw CaseStoreError.cannotCreate(path, String(cString: strerror(errno))) }
        return (path, summary)
    }
}

import CSQLite
import Foundation

public enum TimelineOpenError: Error, CustomStringConvertible {
    case missing(String)
    case unreadable(String, String)
    case notACapture(String)
    case unsupportedVersion(String, Int)
    case corrupt(String, String)
    public var description: String {
        switch self {
        case .missing(let p): return "\(p): no such file"
        case .unreadable(let p, let why): return "cannot read \(p): \(why)"
        case .notACapture(let p): return "\(p) is not a nettrail capture"
        case .unsupportedVersion(let p, let v):
            return "\(p) uses timeline schema version \(v); this nettrail reads versions \(Schema.readable.lowerBound)–\(Schema.readable.upperBound)"
        case .corrupt(let p, let why): return "\(p) is damaged: \(why)"
        }
    }
}

/// A capture opened read-only: the analyzer never changes evidence.
public final class TimelineReader {
    public let path: String
    public let db: Database
    public let schemaVersion: Int
    public let clock: ClockMap

    public init(path: String) throws {
        self.path = path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
            throw TimelineOpenError.missing(path)
        }
        guard access(path, R_OK) == 0 else { throw TimelineOpenError.unreadable(path, String(cString: strerror(errno))) }
        do {
            db = try Database(path: path, mode: .readOnly)
        } catch {
            throw TimelineOpenError.notACapture(path)
        }
        let appID: Int
        do {
            appID = try db.scalar("PRAGMA application_id") ?? 0
        } catch let e as SQLiteError where e.code == SQLITE_NOTADB {
            throw TimelineOpenError.notACapture(path)
        } catch {
            throw TimelineOpenError.corrupt(path, "\(error)")
        }
        guard appID == Int(Schema.applicationID) else { throw TimelineOpenError.notACapture(path) }
        schemaVersion = (try? db.scalar("PRAGMA user_version")) ?? 0
        guard Schema.readable.contains(schemaVersion) else {
            throw TimelineOpenError.unsupportedVersion(path, schemaVersion)
        }
        do {
            // A quick structural check: a damaged page list fails here, not mid-query.
            let check: [String] = try db.column("PRAGMA quick_check(1)")
            guard check.first == "ok" else { throw TimelineOpenError.corrupt(path, check.first ?? "quick_check failed") }
            clock = try ClockMap(db: db)
        } catch let e as TimelineOpenError {
            throw e
        } catch {
            throw TimelineOpenError.corrupt(path, "\(error)")
        }
    }

    public func meta() throws -> [String: String] {
        let st = try db.prepare("SELECT key, value FROM meta")
        var out: [String: String] = [:]
        while try st.step() { out[st.string(0) ?? ""] = st.string(1) ?? "" }
        return out
    }

    /// Whether the capture has `table` (tables added within a version are absent from older captures).
    public func hasTable(_ table: String) throws -> Bool {
        (try db.scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", [table]) ?? 0) > 0
    }

    public func count(_ table: String) throws -> Int {
        try db.scalar("SELECT count(*) FROM \(table)") ?? 0
    }

    public func losses() throws -> [LossRow] {
        let st = try db.prepare("SELECT source, kind, count, from_ns, to_ns FROM loss ORDER BY from_ns")
        var out: [LossRow] = []
        while try st.step() {
            out.append(LossRow(source: st.string(0) ?? "", kind: st.string(1) ?? "", count: st.uint64(2),
                               fromNs: st.uint64(3), toNs: st.uint64(4)))
        }
        return out
    }
}

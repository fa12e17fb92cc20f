import Analyzer
import Format
import Foundation

/// Reproducible hostile variants of a real capture (or of its case): values a type
/// cannot hold written into rows, rows of such values added, segment payloads and
/// headers damaged and then re-chained (so the digest check passes and the decoders
/// and framing checks meet them), and raw bytes of the SQLite file flipped.
struct EvidenceMutator {
    /// SplitMix64: the same seed gives the same inputs on every machine.
    struct RNG {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
        mutating func pick<T>(_ a: [T]) -> T { a[below(a.count)] }
        mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    }

    enum Kind: String, CaseIterable {
        /// Rows of a built case changed or added (the case opened directly, as `nettrail info x.case` does).
        case caseRows
        /// Rows of the capture changed or added, then indexed.
        case captureRows
        /// A segment's records or header damaged and the chain re-sealed, then indexed.
        case segment
        /// Bytes of the SQLite file flipped.
        case fileBytes
    }

    /// SQL literals a row reader must take without trapping: beyond every fixed-width type,
    /// negative, huge, and of the wrong type altogether.
    static let hostile: [String] = [
        "-1", "4294967296", "4294967295", "65536", "256", "2147483648", "-2147483649",
        "9223372036854775807", "-9223372036854775808", "9223372036854775000", "1e308", "-1e308", "0.5",
        "'x'", "''", "X'00FF'", "'10.0.0.1'", "'::1'", "'999.1.1.1'", "0",
    ]

    /// A time near the capture's (so the row is in answers' windows), or a hostile one.
    static func value(_ r: inout RNG, near t: Int64) -> String {
        switch r.below(4) {
        case 0: return String(t &+ Int64(r.below(5_000_000_000)))
        case 1: return String(r.below(70_000))
        default: return r.pick(hostile)
        }
    }

    /// Changes 1–3 rows of `db`'s tables (any but the segment blobs) or adds rows of hostile values.
    static func mutateRows(_ db: Database, _ r: inout RNG, near now: Int64, skip: Set<String> = []) throws -> String {
        let tables: [String] = try db.column(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '%_node' AND name NOT LIKE '%_parent' AND name NOT LIKE '%_rowid'")
            .filter { !skip.contains($0) }
        var done: [String] = []
        for _ in 0..<(1 + r.below(3)) {
            let t = r.pick(tables)
            let cols: [String] = try db.column("SELECT name FROM pragma_table_info(?)", [t])
            guard !cols.isEmpty else { continue }
            let rows: Int = try db.scalar("SELECT count(*) FROM \"\(t)\"") ?? 0
            if rows > 0 && r.chance(70) {
                let c = r.pick(cols), v = value(&r, near: now)
                let nth = r.below(rows)
                try? db.execute("UPDATE \"\(t)\" SET \"\(c)\" = \(v) WHERE rowid = (SELECT rowid FROM \"\(t)\" LIMIT 1 OFFSET \(nth))")
                done.append("\(t).\(c)=\(v)@\(nth)")
            } else {
                let values = cols.map { _ in value(&r, near: now) }
                try? db.execute("INSERT INTO \"\(t)\" (\(cols.map { "\"\($0)\"" }.joined(separator: ","))) VALUES (\(values.joined(separator: ",")))")
                done.append("insert \(t)(\(values.joined(separator: ",")))")
            }
        }
        return done.joined(separator: "; ")
    }

    /// Damages one segment's payload or header, then re-seals it and every later segment's chain digest.
    static func mutateSegment(_ db: Database, _ r: inout RNG) throws -> String {
        struct Row { var rowid: Int64; var header: SegmentHeader; var stored: [UInt8] }
        let st = try db.prepare("SELECT rowid, seq, source, ring, first_ts, last_ts, records, codec, raw_bytes, data FROM segment ORDER BY seq")
        var rows: [Row] = []
        while try st.step() {
            rows.append(Row(rowid: st.int64(0), header: SegmentHeader(
                seq: st.int64(1), source: st.string(2) ?? "", ring: st.string(3) ?? "", firstTs: st.uint64(4),
                lastTs: st.uint64(5), records: st.int(6), codec: st.string(7) ?? "", rawBytes: st.int(8)),
                stored: st.blob(9) ?? []))
        }
        guard !rows.isEmpty else { return "no segments" }
        let i = r.below(rows.count)
        var what = "segment \(i): "
        var h = rows[i].header
        var payload = (try? rows[i].stored.withUnsafeBytes { try Zstd.decompress($0, rawSize: h.rawBytes) }) ?? []
        switch r.below(10) {
        case 0..<5 where payload.count >= 16:
            // Record fields: a record's length word, its ts, kind, or any aligned word of its body.
            for _ in 0..<(1 + r.below(4)) {
                let at = r.below(payload.count / 4) * 4
                let word: UInt32 = r.pick([0, 1, 7, 8, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, UInt32(truncatingIfNeeded: r.next())])
                for k in 0..<4 { payload[at + k] = UInt8(truncatingIfNeeded: word >> (8 * k)) }
                what += "word@\(at)=\(word) "
            }
        case 5 where payload.count > 8:
            for _ in 0..<(1 + r.below(8)) {
                let at = r.below(payload.count)
                payload[at] ^= UInt8(1 << r.below(8))
                what += "bit@\(at) "
            }
        case 6 where payload.count > 8:
            let keep = r.below(payload.count)
            payload.removeSubrange(keep...)
            what += "truncated to \(keep) "
        case 7:
            h.records = r.pick([-1, 0, h.records + 1, Int.max, Int(Int32.max)])
            what += "records=\(h.records) "
        case 8:
            h.firstTs = r.pick([0, UInt64.max, h.lastTs &+ 1_000_000_000, UInt64(Int64.max) + 1])
            h.lastTs = r.pick([0, UInt64.max, h.firstTs &- 1, h.lastTs])
            what += "ts=\(h.firstTs)...\(h.lastTs) "
        default:
            h.rawBytes = r.pick([-1, 0, 7, h.rawBytes + 8, Int.max, Segment.maxRawBytes + 1])
            what += "raw_bytes=\(h.rawBytes) "
        }
        if payload.count != rows[i].header.rawBytes || what.contains("@") || what.contains("truncated") {
            if h.rawBytes == rows[i].header.rawBytes { h.rawBytes = payload.count }
            rows[i].stored = payload.withUnsafeBytes { Zstd.compress($0) }
        }
        rows[i].header = h
        try reseal(db, rows.map { ($0.rowid, $0.header, $0.stored) })
        return what
    }

    /// Writes segments back with every chain digest recomputed: the digest check passes, and the
    /// checks behind it (sizes, framing, decoders) are what meets the damage.
    static func reseal(_ db: Database, _ rows: [(rowid: Int64, header: SegmentHeader, stored: [UInt8])]) throws {
        var previous = [UInt8](repeating: 0, count: 32)
        let up = try db.prepare("UPDATE segment SET records = ?, first_ts = ?, last_ts = ?, raw_bytes = ?, data = ?, sha256 = ? WHERE rowid = ?")
        for row in rows {
            let digest = row.stored.withUnsafeBytes { Segment.chainDigest(previous: previous, header: row.header, stored: $0) }
            previous = digest
            up.bind(1, row.header.records); up.bind(2, row.header.firstTs); up.bind(3, row.header.lastTs)
            up.bind(4, row.header.rawBytes); up.bind(5, blob: row.stored); up.bind(6, blob: digest); up.bind(7, row.rowid)
            try up.run()
        }
    }

    /// Every segment of `db` with `change` applied to its header and payload (decompressed), resealed.
    static func rewriteSegments(_ db: Database, _ change: (inout SegmentHeader, inout [UInt8]) -> Void) throws {
        let st = try db.prepare("SELECT rowid, seq, source, ring, first_ts, last_ts, records, codec, raw_bytes, data FROM segment ORDER BY seq")
        var rows: [(rowid: Int64, header: SegmentHeader, stored: [UInt8])] = []
        while try st.step() {
            var h = SegmentHeader(seq: st.int64(1), source: st.string(2) ?? "", ring: st.string(3) ?? "", firstTs: st.uint64(4),
                                  lastTs: st.uint64(5), records: st.int(6), codec: st.string(7) ?? "", rawBytes: st.int(8))
            let stored = st.blob(9) ?? []
            var payload = try stored.withUnsafeBytes { try Zstd.decompress($0, rawSize: h.rawBytes) }
            let before = payload
            change(&h, &payload)
            rows.append((st.int64(0), h, payload == before ? stored : payload.withUnsafeBytes { Zstd.compress($0) }))
        }
        try reseal(db, rows)
    }

    /// Flips 1–8 bytes of the file at `path` (the first page's header included, now and then).
    static func flipBytes(_ path: String, _ r: inout RNG) throws -> String {
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        var what: [String] = []
        for _ in 0..<(1 + r.below(8)) {
            let at = r.chance(10) ? r.below(min(100, bytes.count)) : r.below(bytes.count)
            let v = UInt8(truncatingIfNeeded: r.next())
            bytes[at] = bytes[at] == v ? ~v : v
            what.append("\(at)=\(v)")
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return "bytes " + what.joined(separator: ",")
    }
}

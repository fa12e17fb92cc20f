/// The range each fixed-width column of the row tables must hold: what its row reader
/// decodes it into (Statement.uint32...). A value outside is damage, counted by
/// `TimelineReader.outOfRangeRows()` for `info` and left out where a reader meets it.
enum ColumnRanges {
    static let u32: ClosedRange<Int64> = 0...Int64(UInt32.max)
    static let u16: ClosedRange<Int64> = 0...Int64(UInt16.max)
    static let u8: ClosedRange<Int64> = 0...Int64(UInt8.max)
    static let nonNegative: ClosedRange<Int64> = 0...Int64.max

    static let task: [(String, ClosedRange<Int64>)] =
        ["pid", "tid", "ppid", "uid", "gid", "mntns", "netns", "pidns"].map { ($0, u32) }
    static let tuple: [(String, ClosedRange<Int64>)] = [("family", u16), ("lport", u16), ("rport", u16)]

    /// The shared tables' and every source's (SourceTables.columnRanges).
    static let byTable: [String: [(String, ClosedRange<Int64>)]] = Schema.sources.reduce(
        ["clock_anchor": [("boot_ns", nonNegative), ("wall_ns", nonNegative)]]
    ) { all, source in all.merging(source.columnRanges) { a, _ in a } }
}

extension Database {
    /// Rows holding a value their reader cannot take, by table (tables without any are left out).
    func outOfRangeRows() throws -> [(table: String, rows: Int)] {
        var out: [(String, Int)] = []
        let present: [String] = try column("SELECT name FROM sqlite_master WHERE type = 'table'")
        for (table, columns) in ColumnRanges.byTable.sorted(by: { $0.key < $1.key }) where present.contains(table) {
            let test = columns.map { "\"\($0.0)\" NOT BETWEEN \($0.1.lowerBound) AND \($0.1.upperBound)" }
                .joined(separator: " OR ")
            let n: Int = try scalar("SELECT count(*) FROM \(table) WHERE \(test)") ?? 0
            if n > 0 { out.append((table, n)) }
        }
        return out
    }

    /// Every row table and its row count, by name: the event tables, whatever sources made them.
    func rowCounts() throws -> [(table: String, rows: Int)] {
        let tables: [String] = try column("""
            SELECT name FROM sqlite_master WHERE type = 'table'
            AND name NOT IN ('meta', 'sqlite_sequence', 'case_capture', 'case_member', 'case_count', 'damage', 'timeline_block')
            ORDER BY name
            """)
        return try tables.map { ($0, try scalar("SELECT count(*) FROM \($0)") ?? 0) }
    }
}

extension TimelineWriter {
    /// A case: checks the rows just copied from the capture's row tables (the only rows a
    /// case holds that its own decoders did not make from fixed-width fields).
    public func outOfRangeCopiedRows() throws -> [(table: String, rows: Int)] { try db.outOfRangeRows() }

    /// A case: what `info` counts, stored once it is built (counting a 10 M-event case's
    /// tables takes seconds): the rows of every table, and the damaged rows found on copy.
    /// `notStored`: rows a table stands for that the case did not write into it (joined straight
    /// into what every query reads instead), counted as its rows.
    public func storeTableCounts(outOfRange: [(table: String, rows: Int)], notStored: [String: Int] = [:]) throws {
        try commit()
        let rows = try db.rowCounts()
        try begin()
        for (table, n) in rows { try count(CaseCounts.rows + table, n + (notStored[table] ?? 0)) }
        for (table, n) in outOfRange { try count(CaseCounts.outOfRange + table, n) }
        try count(CaseCounts.stored, 1)
        try commit()
    }
}

/// Names of the counts a case stores for `info`.
enum CaseCounts {
    static let rows = "rows."
    static let outOfRange = "out_of_range."
    /// Present once the counts are stored: a case without it (or a capture) is counted when asked.
    static let stored = "table_counts_stored"
}

extension TimelineReader {
    /// Rows holding a value their reader cannot take, by table (tables without any are left out).
    public func outOfRangeRows() throws -> [(table: String, rows: Int)] {
        if try storedCounts() {
            return try counts(prefix: CaseCounts.outOfRange).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        }
        return try db.outOfRangeRows()
    }

    /// Every row table and its row count, by name.
    public func rowCounts() throws -> [(table: String, rows: Int)] {
        if try storedCounts() {
            return try counts(prefix: CaseCounts.rows).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        }
        return try db.rowCounts()
    }

    private func storedCounts() throws -> Bool {
        guard kind == .caseDatabase else { return false }
        return try counts(prefix: CaseCounts.stored)[""] != nil
    }
}

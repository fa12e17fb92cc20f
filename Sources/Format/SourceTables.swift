/// One event source's row tables: created in every capture and case (Schema.ddl),
/// indexed when the file is finished (Schema.indexes).
struct SourceTables {
    let ddl: [String]
    let indexes: [String]
    /// Indexes a case does without: no answer reads these rows but through what the case
    /// joins from them (CaseRows), which has indexes of its own.
    var unreadInCase: [String] = []
    /// The range each fixed-width column must hold, by table (ColumnRanges).
    var columnRanges: [String: [(String, ClosedRange<Int64>)]] = [:]
}

import Foundation

/// What a recording has done so far, for a status line (RecordOptions.status):
/// events by source, their rate since the previous status, losses, the capture's size.
public struct RecordStatus: Sendable {
    public var seconds: Double
    /// Events read off the rings per source, in source order, since the start.
    public var events: [(source: String, count: Int)]
    /// Events per second per source since the previous status.
    public var rates: [(source: String, perSecond: Double)]
    /// Every loss counted so far (kernel and recorder), summed.
    public var lost: UInt64
    /// The capture and its WAL, in bytes.
    public var fileBytes: Int64

    /// One line, as `nettrail-record` shows it on a terminal.
    public var line: String {
        let total = rates.reduce(0) { $0 + $1.perSecond }
        let by = rates.map { "\($0.source) \(Self.count($0.perSecond))" }.joined(separator: ", ")
        return String(format: "%4.0f s  ", seconds) + "\(Self.count(total)) events/s (\(by))  "
            + (lost == 0 ? "lost 0" : "LOST \(lost)") + "  " + Self.bytes(fileBytes)
    }

    static func count(_ v: Double) -> String {
        v >= 10_000 ? String(format: "%.0fk", v / 1000) : v >= 1000 ? String(format: "%.1fk", v / 1000) : String(format: "%.0f", v)
    }

    static func bytes(_ b: Int64) -> String {
        b >= 1 << 30 ? String(format: "%.1f GiB", Double(b) / Double(1 << 30))
            : b >= 1 << 20 ? String(format: "%.1f MiB", Double(b) / Double(1 << 20))
            : String(format: "%.0f KiB", Double(b) / 1024)
    }
}

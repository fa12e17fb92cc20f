import CEventABI
import Format

/// A record kind and the struct that lays it out (bpf/nettrail.h).
public struct RecordLayout: Sendable {
    public let kind: nt_kind
    public let structName: String
    public let size: Int
    public init<T>(_ kind: nt_kind, _ type: T.Type, _ structName: String) {
        self.kind = kind
        self.structName = structName
        self.size = MemoryLayout<T>.size
    }
}

/// How one source's archived records become timeline rows.
public struct RecordDecoder {
    public let source: String
    public let layouts: [RecordLayout]
    public var kinds: [nt_kind] { layouts.map(\.kind) }
    public let decode: (UnsafeRawPointer, Int, UInt32, TimelineWriter) throws -> Void

    public init(source: String, layouts: [RecordLayout],
                decode: @escaping (UnsafeRawPointer, Int, UInt32, TimelineWriter) throws -> Void) {
        self.source = source
        self.layouts = layouts
        self.decode = decode
    }

    public init(for source: EventSource, decode: @escaping (UnsafeRawPointer, Int, UInt32, TimelineWriter) throws -> Void) {
        self.init(source: source.name, layouts: source.layouts, decode: decode)
    }
}

/// Every source's decoder, dispatched on the record's kind. Each instance keeps
/// its decoders' caches: one per thread.
public final class RecordDecoders {
    /// Every source's decoder (EventSources.all), each with caches of its own.
    public static func all() -> [RecordDecoder] { EventSources.all.map { $0.decoder() } }

    /// The ABI versions whose records these decoders read. Version 3 added a kind
    /// (TCP_SPAN) and changed no other: a version 2 capture is read as it is.
    public static let abiVersions: ClosedRange<Int> = 2...Int(NT_ABI_VERSION)

    /// This build's layouts of every archived kind, as a capture describes them (record_kind).
    public static func layoutRows() -> [RecordKindRow] {
        EventSources.all.flatMap { s in
            s.kinds.compactMap { k in
                k.layout.map {
                    RecordKindRow(abiVersion: Int(NT_ABI_VERSION), kind: $0.kind.rawValue, name: k.name,
                                  source: s.name, structName: $0.structName, size: $0.size)
                }
            }
        }
    }

    public typealias Decode = (UnsafeRawPointer, Int, UInt32, TimelineWriter) throws -> Void
    /// Only the decode functions, by kind: looking up a whole RecordDecoder per record would
    /// retain and release its name and layouts too.
    private let table: [Decode?]

    public init(_ decoders: [RecordDecoder] = RecordDecoders.all()) {
        var table = [Decode?](repeating: nil, count: Int(NT_KIND_MAX.rawValue))
        for d in decoders { for k in d.kinds { table[Int(k.rawValue)] = d.decode } }
        self.table = table
    }

    /// The kind of a record: every record starts with u64 ts, u32 kind (bpf/nettrail.h).
    @inline(__always)
    public static func kind(_ data: UnsafeRawPointer, _ size: Int) -> UInt32? {
        size >= 12 ? data.loadUnaligned(fromByteOffset: 8, as: UInt32.self) : nil
    }

    /// Writes the rows of one record; a record no decoder knows, or too short for its
    /// kind, throws DecodeError.
    @inline(__always)
    public func write(_ data: UnsafeRawPointer, size: Int, into w: TimelineWriter) throws {
        guard let kind = Self.kind(data, size) else { throw DecodeError.short(0, size) }
        guard kind < NT_KIND_MAX.rawValue, let decode = table[Int(kind)] else { throw DecodeError.unknownKind(kind) }
        try decode(data, size, kind, w)
    }
}

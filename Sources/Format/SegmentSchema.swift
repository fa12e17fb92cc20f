/// The evidence's own tables (schema version 2): raw ring records in segments,
/// and the description of their layout. Every other table of a capture holds
/// what the recorder wrote as rows (metadata, clock anchors, losses, startup
/// snapshots, what it learned from maps while recording).
enum SegmentSchema {
    static let ddl: [String] = [
        // One row per sealed segment: `records` ring records of one ring, framed (SegmentCodec.swift),
        // compressed with `codec` to `data`; `sha256` chains to the previous segment's (Segment.chainDigest).
        """
        CREATE TABLE segment (seq INTEGER PRIMARY KEY, source TEXT NOT NULL, ring TEXT NOT NULL,
            first_ts INTEGER NOT NULL, last_ts INTEGER NOT NULL, records INTEGER NOT NULL,
            codec TEXT NOT NULL, raw_bytes INTEGER NOT NULL, data BLOB NOT NULL, sha256 BLOB NOT NULL)
        """,
        // The record kinds the segments may hold, as this recorder's ABI (bpf/nettrail.h, NT_ABI_VERSION) lays them out.
        """
        CREATE TABLE record_kind (abi_version INTEGER NOT NULL, kind INTEGER NOT NULL, name TEXT NOT NULL,
            source TEXT NOT NULL, struct TEXT NOT NULL, size INTEGER NOT NULL)
        """,
        // Each source's BPF object's BTF (compressed with `codec`): the record structs exactly as compiled.
        """
        CREATE TABLE record_btf (source TEXT NOT NULL, codec TEXT NOT NULL, raw_bytes INTEGER NOT NULL,
            btf BLOB NOT NULL)
        """,
    ]
}

/// A record kind as the capture describes it.
public struct RecordKindRow: Sendable, Equatable {
    public var abiVersion: Int
    public var kind: UInt32
    public var name: String
    public var source: String
    public var structName: String
    public var size: Int
    public init(abiVersion: Int, kind: UInt32, name: String, source: String, structName: String, size: Int) {
        self.abiVersion = abiVersion; self.kind = kind; self.name = name; self.source = source
        self.structName = structName; self.size = size
    }
}

/// A segment as stored, undecoded.
public struct StoredSegment {
    public var header: SegmentHeader
    public var stored: [UInt8]
    public var sha256: [UInt8]
}

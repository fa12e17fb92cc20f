import Foundation

/// Committed data a capture's WAL holds past a damaged frame. SQLite reads a WAL's
/// frames in order and stops, without a word, at the first whose checksum fails:
/// frames of the same WAL generation (its salts) after it that end transactions
/// are commits the capture made and no reader will see.
public struct WALDamage: Sendable, Equatable {
    /// The first frame (0-based) that fails, and its byte offset in FILE-wal.
    public let frame: Int
    public let offset: Int
    /// Committed transactions, and their frames, after it.
    public let commitsAfter: Int
    public let framesAfter: Int
}

public enum WALScan {
    static let headerBytes = 32, frameHeaderBytes = 24

    /// The damage in the WAL at `path`, if any committed transaction lies beyond it. A
    /// transaction cut short at the end (a recorder killed mid-commit) is not damage.
    public static func damage(_ path: String) -> WALDamage? {
        guard let data = FileManager.default.contents(atPath: path), data.count > headerBytes else { return nil }
        return data.withUnsafeBytes { damage(in: $0) }
    }

    static func damage(in b: UnsafeRawBufferPointer) -> WALDamage? {
        func be32(_ o: Int) -> UInt32 { UInt32(b[o]) << 24 | UInt32(b[o + 1]) << 16 | UInt32(b[o + 2]) << 8 | UInt32(b[o + 3]) }
        let magic = be32(0)
        guard magic == 0x377f_0682 || magic == 0x377f_0683 else { return nil }
        let bigEndianSums = magic & 1 == 1
        let pageSize = Int(be32(8))
        guard pageSize >= 512, pageSize <= 65536, pageSize & (pageSize - 1) == 0 else { return nil }
        var s = checksum(b, 0, 24, bigEndian: bigEndianSums, (0, 0))
        guard s == (be32(24), be32(28)) else {
            // SQLite ignores a WAL whose header fails: every frame in it is unread.
            let frames = (b.count - headerBytes) / (frameHeaderBytes + pageSize)
            let commits = frames > 0 ? (0..<frames).filter { be32(headerBytes + $0 * (frameHeaderBytes + pageSize) + 4) != 0 }.count : 0
            return commits > 0 ? WALDamage(frame: 0, offset: 0, commitsAfter: commits, framesAfter: frames) : nil
        }
        let salts = (be32(16), be32(20))
        let frameBytes = frameHeaderBytes + pageSize
        let frames = (b.count - headerBytes) / frameBytes
        var i = 0
        while i < frames {
            let o = headerBytes + i * frameBytes
            guard (be32(o + 8), be32(o + 12)) == salts else { return nil }  // the end of this generation
            s = checksum(b, o, 8, bigEndian: bigEndianSums, s)
            s = checksum(b, o + frameHeaderBytes, pageSize, bigEndian: bigEndianSums, s)
            if s != (be32(o + 16), be32(o + 20)) { break }
            i += 1
        }
        guard i < frames else { return nil }
        // The failed frame itself may be the commit of a transaction cut short: only commits after it count.
        var commits = 0, after = 1
        for j in (i + 1)..<max(frames, i + 1) {
            let o = headerBytes + j * frameBytes
            guard (be32(o + 8), be32(o + 12)) == salts else { break }
            after += 1
            if be32(o + 4) != 0 { commits += 1 }
        }
        // Frames after a failed one with no commit among them: a last transaction cut short.
        guard commits > 0 else { return nil }
        return WALDamage(frame: i, offset: headerBytes + i * frameBytes, commitsAfter: commits, framesAfter: after)
    }

    /// SQLite's WAL checksum (walChecksumBytes): over 32-bit words in the byte order the
    /// WAL's magic names, two running sums.
    static func checksum(_ b: UnsafeRawBufferPointer, _ start: Int, _ count: Int, bigEndian: Bool,
                         _ s: (UInt32, UInt32)) -> (UInt32, UInt32) {
        var (s1, s2) = s
        var o = start
        let end = start + count
        while o + 8 <= end {
            let w1 = b.loadUnaligned(fromByteOffset: o, as: UInt32.self)
            let w2 = b.loadUnaligned(fromByteOffset: o + 4, as: UInt32.self)
            let x1 = bigEndian ? UInt32(bigEndian: w1) : UInt32(littleEndian: w1)
            let x2 = bigEndian ? UInt32(bigEndian: w2) : UInt32(littleEndian: w2)
            s1 = s1 &+ x1 &+ s2
            s2 = s2 &+ x2 &+ s1
            o += 8
        }
        return (s1, s2)
    }
}

import Format

/// Where an address sits in the direct-mapped tables below: 256 slots, picked by a
/// multiplicative hash of its 16 bytes and family.
private enum AddressSlot {
    static let count = 256

    @inline(__always)
    static func of(hi: UInt64, lo: UInt64, family: UInt64) -> Int {
        Int(truncatingIfNeeded: ((hi ^ (lo &* 0x9E37_79B9_7F4A_7C15) ^ family) &* 0x9E37_79B9_7F4A_7C15) >> 56)
    }
}

/// Address text for the ring path: a direct-mapped table of recently formatted addresses
/// (a churn repeats a handful), and four per-row slots the insert binds in place
/// (SQLITE_STATIC), so a row costs no String, no hashing, no allocation. One thread
/// uses it.
public final class AddressText {
    // Entry: key hi u64 @0, lo u64 @8, family u8 @16, valid u8 @17, length u8 @18, text @24.
    private static let entrySize = 80, entries = AddressSlot.count, textOffset = 24, textMax = 56
    private let table: UnsafeMutableRawPointer
    private let scratch: UnsafeMutableRawPointer

    public init() {
        table = .allocate(byteCount: Self.entrySize * Self.entries, alignment: 8)
        table.initializeMemory(as: UInt8.self, repeating: 0, count: Self.entrySize * Self.entries)
        scratch = .allocate(byteCount: 4 * Self.textMax, alignment: 8)
    }

    deinit {
        table.deallocate()
        scratch.deallocate()
    }

    /// The text of the 16 address bytes at `bytes` (as ConntrackRecords.address formats them),
    /// copied into row slot `slot` (0...3): valid until the same slot is asked again.
    @inline(__always)
    public func text(_ bytes: UnsafeRawPointer, family: UInt8, slot: Int) -> BorrowedText {
        let hi = bytes.loadUnaligned(as: UInt64.self), lo = bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        let e = table + AddressSlot.of(hi: hi, lo: lo, family: UInt64(family)) * Self.entrySize
        if e.load(fromByteOffset: 17, as: UInt8.self) == 0 || e.load(as: UInt64.self) != hi
            || e.load(fromByteOffset: 8, as: UInt64.self) != lo || e.load(fromByteOffset: 16, as: UInt8.self) != family {
            fill(e, bytes, family: family, hi: hi, lo: lo)
        }
        let n = Int(e.load(fromByteOffset: 18, as: UInt8.self))
        let dst = scratch + slot * Self.textMax
        dst.copyMemory(from: e + Self.textOffset, byteCount: n)
        return BorrowedText(base: UnsafeRawPointer(dst).assumingMemoryBound(to: CChar.self), count: Int32(n))
    }

    private func fill(_ e: UnsafeMutableRawPointer, _ bytes: UnsafeRawPointer, family: UInt8, hi: UInt64, lo: UInt64) {
        var s = SocketTuple.address(family: UInt16(family), bytes)
        s.withUTF8 { u in
            let n = min(u.count, Self.textMax)
            if n > 0 { (e + Self.textOffset).copyMemory(from: u.baseAddress!, byteCount: n) }
            e.storeBytes(of: UInt8(n), toByteOffset: 18, as: UInt8.self)
        }
        e.storeBytes(of: hi, as: UInt64.self)
        e.storeBytes(of: lo, toByteOffset: 8, as: UInt64.self)
        e.storeBytes(of: family, toByteOffset: 16, as: UInt8.self)
        e.storeBytes(of: 1, toByteOffset: 17, as: UInt8.self)
    }
}

/// Address text as Strings, for rows built in memory (SocketTuple.address's text): a
/// churn repeats a handful of addresses, so each is formatted once; a direct-mapped table
/// (as AddressText's) finds it without hashing through Hasher. One thread uses it.
public final class AddressStrings {
    private struct Entry { var hi: UInt64; var lo: UInt64; var family: UInt16; var text: String? }
    private static let entries = AddressSlot.count
    private let table: UnsafeMutablePointer<Entry>

    public init() {
        table = .allocate(capacity: Self.entries)
        table.initialize(repeating: Entry(hi: 0, lo: 0, family: 0, text: nil), count: Self.entries)
    }

    deinit {
        table.deinitialize(count: Self.entries)
        table.deallocate()
    }

    /// The text of the 16 address bytes at `bytes`.
    @inline(__always)
    public func text(_ bytes: UnsafeRawPointer, family: UInt16) -> String {
        let hi = bytes.loadUnaligned(as: UInt64.self), lo = bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        let e = table + AddressSlot.of(hi: hi, lo: lo, family: UInt64(family))
        if let s = e.pointee.text, e.pointee.hi == hi, e.pointee.lo == lo, e.pointee.family == family { return s }
        let s = SocketTuple.address(family: family, bytes)
        e.pointee = Entry(hi: hi, lo: lo, family: family, text: s)
        return s
    }
}

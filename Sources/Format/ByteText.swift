/// Text written as UTF-8 bytes into one growing buffer: what answers use for the lines they
/// make by the ten thousand, where String interpolation costs more than the facts it joins.
public struct ByteText {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 128) { bytes.reserveCapacity(capacity) }

    public var string: String { String(decoding: bytes, as: UTF8.self) }

    public var count: Int { bytes.count }

    /// Back to the first `count` bytes (what was written before a part that came to nothing).
    public mutating func truncate(to count: Int) { bytes.removeSubrange(count...) }

    public mutating func add(_ s: String) {
        var s = s
        s.withUTF8 { bytes.append(contentsOf: $0) }
    }

    public mutating func add(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    public mutating func add(_ b: UnsafeRawBufferPointer) { bytes.append(contentsOf: b) }

    /// Room for `count` bytes in all.
    public mutating func reserve(_ count: Int) { bytes.reserveCapacity(count) }

    /// Decimal, as `String(n)` spells it.
    public mutating func add<T: BinaryInteger>(_ n: T) {
        if n < 0 {
            bytes.append(UInt8(ascii: "-"))
            // The magnitude of T.min fits its unsigned counterpart, not T.
            add(n.magnitude)
            return
        }
        var v = UInt64(truncatingIfNeeded: n), digits = 1
        while v >= 10 { v /= 10; digits += 1 }
        let end = bytes.count + digits
        bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits))
        v = UInt64(truncatingIfNeeded: n)
        var i = end - 1
        repeat { bytes[i] = UInt8(ascii: "0") + UInt8(v % 10); v /= 10; i -= 1 } while v > 0
    }

    /// An endpoint's one spelling: a:port, [v6]:port, or the bare address.
    public mutating func endpoint(_ addr: String, _ port: UInt16?) {
        var a = addr
        a.withUTF8 { u in
            let bracketed = port != nil && u.contains(UInt8(ascii: ":"))
            if bracketed { bytes.append(UInt8(ascii: "[")) }
            bytes.append(contentsOf: u)
            if bracketed { bytes.append(UInt8(ascii: "]")) }
        }
        guard let port else { return }
        bytes.append(UInt8(ascii: ":"))
        add(port)
    }
}

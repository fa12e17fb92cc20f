/// Reads a fixed char array inside a C struct as a String (stops at NUL).
@inline(__always)
public func cString(_ base: UnsafeRawPointer, offset: Int, capacity: Int, length: Int? = nil) -> String {
    let p = (base + offset).assumingMemoryBound(to: UInt8.self)
    let n = length.map { min($0, capacity) } ?? strnlen(p, capacity)
    return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
}

@inline(__always)
private func strnlen(_ p: UnsafePointer<UInt8>, _ cap: Int) -> Int {
    var i = 0
    while i < cap && p[i] != 0 { i += 1 }
    return i
}

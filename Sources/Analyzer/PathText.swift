/// Paths as the kernel reads them: bytes, split at "/".
enum PathText {
    /// The last component (trailing slashes ignored); nil for an empty path or slashes only.
    /// Found from the end by bytes: a connection list names thousands of owners' programs.
    static func lastComponent(_ path: String) -> Substring? {
        let u = path.utf8, slash = UInt8(ascii: "/")
        var end = u.endIndex
        while end > u.startIndex, u[u.index(before: end)] == slash { end = u.index(before: end) }
        guard end > u.startIndex else { return nil }
        var start = u.index(before: end)
        while start > u.startIndex, u[u.index(before: start)] != slash { start = u.index(before: start) }
        return Substring(u[start..<end])
    }
}

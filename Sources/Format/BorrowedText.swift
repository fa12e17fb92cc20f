/// Text bound in place for one insert (SQLITE_STATIC, no copy): `count` bytes of UTF-8 at
/// `base`, which must stay valid and unchanged until the insert returns.
public struct BorrowedText {
    public var base: UnsafePointer<CChar>
    public var count: Int32
    @inline(__always) public init(base: UnsafePointer<CChar>, count: Int32) { self.base = base; self.count = count }
}

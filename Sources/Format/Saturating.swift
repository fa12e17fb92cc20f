/// Time arithmetic on values read from evidence: a damaged or crafted time stops at the
/// end of the range instead of trapping or wrapping around to the other end.
extension UInt64 {
    @inline(__always) public func saturatingAdd(_ x: UInt64) -> UInt64 {
        let (r, o) = addingReportingOverflow(x)
        return o ? .max : r
    }
    @inline(__always) public func saturatingSub(_ x: UInt64) -> UInt64 { self > x ? self - x : 0 }
}

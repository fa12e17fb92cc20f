#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct TimeSpecError: Error, CustomStringConvertible {
    public let text: String
    public var description: String {
        "invalid time '\(text)': use RFC 3339 (2026-11-26T21:39:26.5Z), Unix seconds (1795729166.5), or +SECONDS from capture start"
    }
}

/// A time a user typed, as wall-clock ns since the Unix epoch.
public enum TimeSpec {
    /// `captureStartWall` resolves "+N" (seconds since the capture began).
    public static func parse(_ text: String, captureStartWall: Int64) throws -> Int64 {
        let s = text.trimmed(" ")
        if s.hasPrefix("+"), let secs = decimalNs(String(s.dropFirst()).trimmingSuffix("s")) {
            return captureStartWall + secs
        }
        if let ns = decimalNs(s) { return ns }
        if let ns = rfc3339(s) { return ns }
        throw TimeSpecError(text: text)
    }

    /// "123.456789" → ns, exactly (no Double rounding).
    static func decimalNs(_ s: String) -> Int64? {
        let parts = s.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.allSatisfy(\.isASCIIDigit), let w = Int64(whole),
              w < 9_000_000_000 else { return nil }
        var frac: Int64 = 0
        if parts.count == 2 {
            let f = parts[1]
            guard !f.isEmpty, f.count <= 9, f.allSatisfy(\.isASCIIDigit) else { return nil }
            frac = Int64(f + String(repeating: "0", count: 9 - f.count))!
        }
        return w * 1_000_000_000 + frac
    }

    static func rfc3339(_ s: String) -> Int64? {
        let u = Array(s.utf8)
        func num(_ a: Int, _ n: Int) -> Int? {
            guard a + n <= u.count else { return nil }
            var v = 0
            for c in u[a..<(a + n)] { guard c >= 48 && c <= 57 else { return nil }; v = v * 10 + Int(c - 48) }
            return v
        }
        guard u.count >= 20, let y = num(0, 4), u[4] == 45, let mo = num(5, 2), u[7] == 45, let d = num(8, 2),
              u[10] == 84 || u[10] == 116 || u[10] == 32, let h = num(11, 2), u[13] == 58, let mi = num(14, 2),
              u[16] == 58, let se = num(17, 2),
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, se < 61 else { return nil }
        var i = 19
        var frac: Int64 = 0
        if i < u.count, u[i] == 46 {
            i += 1
            var digits = 0
            while i < u.count, u[i] >= 48, u[i] <= 57 {
                if digits < 9 { frac = frac * 10 + Int64(u[i] - 48) }
                digits += 1; i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<9 where digits < 9 { frac *= 10 }
        }
        var offset = 0
        guard i < u.count else { return nil }
        if u[i] == 90 || u[i] == 122 {
            i += 1
        } else if u[i] == 43 || u[i] == 45, let oh = num(i + 1, 2), u.count > i + 3, u[i + 3] == 58, let om = num(i + 4, 2) {
            offset = (oh * 3600 + om * 60) * (u[i] == 43 ? 1 : -1)
            i += 6
        } else { return nil }
        guard i == u.count else { return nil }
        var t = tm()
        t.tm_year = Int32(y - 1900); t.tm_mon = Int32(mo - 1); t.tm_mday = Int32(d)
        t.tm_hour = Int32(h); t.tm_min = Int32(mi); t.tm_sec = Int32(se)
        let secs = Int64(timegm(&t)) - Int64(offset)
        return secs * 1_000_000_000 + frac
    }

    /// RFC 3339 UTC with nanoseconds: 2026-11-26T21:39:26.079477458Z
    public static func format(_ wallNs: Int64) -> String {
        var secs = time_t(wallNs >= 0 ? wallNs / 1_000_000_000 : (wallNs - 999_999_999) / 1_000_000_000)
        let ns = wallNs - Int64(secs) * 1_000_000_000
        var t = tm()
        gmtime_r(&secs, &t)
        func pad(_ v: Int32, _ n: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, n - s.count)) + s }
        let nsText = String(ns)
        return "\(pad(t.tm_year + 1900, 4))-\(pad(t.tm_mon + 1, 2))-\(pad(t.tm_mday, 2))T\(pad(t.tm_hour, 2)):\(pad(t.tm_min, 2)):\(pad(t.tm_sec, 2))."
            + String(repeating: "0", count: 9 - nsText.count) + nsText + "Z"
    }
}

extension String {
    func trimmed(_ set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
    func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}

extension Character {
    var isASCIIDigit: Bool { asciiValue.map { $0 >= 48 && $0 <= 57 } ?? false }
}

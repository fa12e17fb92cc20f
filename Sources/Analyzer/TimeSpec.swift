#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct TimeSpecError: Error, CustomStringConvertible {
    public let text: String
    /// Set when the form was right but the moment cannot be (30 February, year 9999).
    public var reason: String?
    public init(text: String, reason: String? = nil) { self.text = text; self.reason = reason }
    public var description: String {
        if let reason { return "invalid time '\(text)': \(reason)" }
        return "invalid time '\(text)': use RFC 3339 (2026-11-26T21:39:26.5Z), a wall time taken as UTC (2026-11-26 21:39:26, 21:39:26), Unix seconds (1795729166.5), +DURATION from the capture's start or -DURATION before its end (+90, +1m30s, -5m, 500ms)"
    }
}

/// A time a user typed, as wall-clock ns since the Unix epoch.
public enum TimeSpec {
    /// `captureStartWall` resolves "+N" (seconds since the capture began).
    /// Wall ns are Int64 from 1970: an RFC 3339 time after this is refused, not wrapped.
    static let latestWall = Int64.max

    /// `captureStartWall` resolves "+DURATION"; `captureEndWall` "-DURATION" (nil: the capture has
    /// no end to count back from). A wall time without a zone is `zoneOffset` seconds east of UTC;
    /// a time of day alone is on the capture's first day (or the next, if that is when it was).
    public static func parse(_ text: String, captureStartWall: Int64, captureEndWall: Int64? = nil,
                             zoneOffset: Int = 0) throws -> Int64 {
        let s = text.trimmed(" ")
        if s.hasPrefix("+"), let d = durationNs(String(s.dropFirst())) {
            // Saturates: so late a time is then refused as outside the capture, with its span.
            let (t, overflow) = captureStartWall.addingReportingOverflow(d)
            return overflow ? .max : t
        }
        if s.hasPrefix("-"), let d = durationNs(String(s.dropFirst())) {
            guard let end = captureEndWall else {
                throw TimeSpecError(text: text, reason: "the capture was not closed cleanly, so it has no end to count back from")
            }
            let (t, overflow) = end.subtractingReportingOverflow(d)
            return overflow ? .min : t
        }
        if let ns = decimalNs(s) { return ns }
        if let ns = try rfc3339(s, text, zoneOffset: zoneOffset) { return ns }
        if let ns = try timeOfDay(s, text, day: captureStartWall, end: captureEndWall, zoneOffset: zoneOffset) { return ns }
        throw TimeSpecError(text: text)
    }

    /// Checks the form and the calendar without a capture (what `validate()` can know).
    public static func validate(_ text: String) throws {
        _ = try parse(text, captureStartWall: 0, captureEndWall: 1 << 62)
    }

    /// A wall time typed without a zone (read as UTC, or as --tz says): the answer says so.
    public static func isZoneless(_ text: String) -> Bool {
        let s = text.trimmed(" ")
        if s.hasPrefix("+") || s.hasPrefix("-") || decimalNs(s) != nil { return false }
        let u = Array(s.utf8)
        if u.count >= 19, (try? rfc3339(s, s, zoneOffset: 0)) != nil {
            var i = 19
            if i < u.count, u[i] == 46 { i += 1; while i < u.count, u[i] >= 48, u[i] <= 57 { i += 1 } }
            return i == u.count
        }
        return (try? timeOfDay(s, s, day: 0, end: nil, zoneOffset: 0)) != nil
    }

    /// A duration: seconds with a fraction ("90", "1.5"), or numbers with units, largest first
    /// ("500ms", "1m30s", "2h", "1.5s"): ms, s, m, h.
    public static func durationNs(_ s: String) -> Int64? {
        if let ns = decimalNs(s) { return ns }
        var rest = Substring(s)
        var total: Int64 = 0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let num = rest.prefix { $0.isASCIIDigit || $0 == "." }
            guard !num.isEmpty, let v = decimalNs(String(num)) else { return nil }
            rest = rest.dropFirst(num.count)
            let unit = rest.prefix { $0.isLetter }
            rest = rest.dropFirst(unit.count)
            let part: (Int64, Bool)
            switch unit {
            case "ms": part = (v / 1000, false)
            case "s": part = (v, false)
            case "m", "min": part = v.multipliedReportingOverflow(by: 60)
            case "h": part = v.multipliedReportingOverflow(by: 3600)
            default: return nil
            }
            let sum = total.addingReportingOverflow(part.0)
            guard !part.1, !sum.overflow else { return .max }
            total = sum.partialValue
        }
        return total
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

    /// nil when `s` is not RFC 3339; throws when it is, but names no moment nettrail can hold.
    static func rfc3339(_ s: String, _ text: String, zoneOffset: Int) throws -> Int64? {
        let u = Array(s.utf8)
        func num(_ a: Int, _ n: Int) -> Int? {
            guard a + n <= u.count else { return nil }
            var v = 0
            for c in u[a..<(a + n)] { guard c >= 48 && c <= 57 else { return nil }; v = v * 10 + Int(c - 48) }
            return v
        }
        guard u.count >= 19, let y = num(0, 4), u[4] == 45, let mo = num(5, 2), u[7] == 45, let d = num(8, 2),
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
        var offset = zoneOffset
        if i == u.count {
            // No zone: a wall time as a log or `date` prints it.
        } else if u[i] == 90 || u[i] == 122 {
            offset = 0
            i += 1
        } else if u[i] == 43 || u[i] == 45, let oh = num(i + 1, 2), u.count > i + 3, u[i + 3] == 58, let om = num(i + 4, 2) {
            offset = (oh * 3600 + om * 60) * (u[i] == 43 ? 1 : -1)
            i += 6
        } else { return nil }
        guard i == u.count else { return nil }
        return try moment(y, mo, d, h, mi, se, frac, offset: offset, text)
    }

    /// "HH:MM[:SS[.frac]]": on the capture's first day, or the next when it is earlier than the
    /// start and the capture ran past midnight.
    static func timeOfDay(_ s: String, _ text: String, day startWall: Int64, end endWall: Int64?,
                          zoneOffset: Int) throws -> Int64? {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3, parts[0].count == 2, parts[1].count == 2,
              parts[0].allSatisfy(\.isASCIIDigit), parts[1].allSatisfy(\.isASCIIDigit),
              let h = Int(parts[0]), let mi = Int(parts[1]), h < 24, mi < 60 else { return nil }
        var secNs: Int64 = 0
        if parts.count == 3 {
            guard parts[2].count >= 2, parts[2].prefix(2).allSatisfy(\.isASCIIDigit), let ns = decimalNs(String(parts[2])),
                  ns < 61_000_000_000 else { return nil }
            secNs = ns
        }
        let localStart = startWall + Int64(zoneOffset) * 1_000_000_000
        let dayStart = (localStart >= 0 ? localStart : localStart - 86_399_999_999_999) / 86_400_000_000_000 * 86_400_000_000_000
        var t = dayStart + Int64(h * 3600 + mi * 60) * 1_000_000_000 + secNs - Int64(zoneOffset) * 1_000_000_000
        if t < startWall, let end = endWall, t + 86_400_000_000_000 <= end { t += 86_400_000_000_000 }
        return t
    }

    static func moment(_ y: Int, _ mo: Int, _ d: Int, _ h: Int, _ mi: Int, _ se: Int, _ frac: Int64, offset: Int,
                       _ text: String) throws -> Int64 {
        guard d <= daysIn(month: mo, year: y) else {
            throw TimeSpecError(text: text, reason: "\(String(format: "%04d-%02d", y, mo)) has no day \(d)")
        }
        // Computed in seconds: outside 1970...2262, ns since the epoch leave Int64.
        let days = daysFromCivil(y, mo, d)
        let secs = days * 86_400 + Int64(h * 3600 + mi * 60 + se) - Int64(offset)
        guard secs >= 0, secs <= (latestWall - frac) / 1_000_000_000 else {
            throw TimeSpecError(text: text, reason: "outside the times nettrail reads (1970-01-01 to 2262-04-11)")
        }
        return secs * 1_000_000_000 + frac
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm):
    /// exact for any 4-digit year, where timegm's time_t arithmetic is not guaranteed to be.
    static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month), dd = Int64(day)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + dd - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The proleptic Gregorian date of a day count since 1970-01-01: `daysFromCivil`'s inverse.
    static func civilFromDays(_ count: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = count + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), Int(month), Int(doy - (153 * mp + 2) / 5 + 1))
    }

    /// RFC 3339 UTC with nanoseconds: 2026-11-26T21:39:26.079477458Z
    public static func format(_ wallNs: Int64) -> String {
        String(unsafeUninitializedCapacity: formattedLength) { write(wallNs, into: $0) }
    }

    /// The length of `format`'s text: an Int64 of nanoseconds spans the years 1677 to 2262.
    static let formattedLength = 30

    /// `format`'s text into `buf` (at least `formattedLength` bytes); returns its length. By
    /// arithmetic, not gmtime_r: a busy timeline formats one per line, and glibc takes its
    /// time-zone lock on every call.
    static func write(_ wallNs: Int64, into buf: UnsafeMutableBufferPointer<UInt8>) -> Int {
        // Floor division without the subtraction that overflows near Int64.min.
        var secs = wallNs / 1_000_000_000, ns = wallNs % 1_000_000_000
        if ns < 0 { secs -= 1; ns += 1_000_000_000 }
        var days = secs / 86_400, second = Int(secs % 86_400)
        if second < 0 { days -= 1; second += 86_400 }
        let date = civilFromDays(days)
        var i = 0
        func put(_ value: Int, _ digits: Int, _ after: Unicode.Scalar) {
            var v = value
            for k in stride(from: i + digits - 1, through: i, by: -1) { buf[k] = UInt8(48 + v % 10); v /= 10 }
            buf[i + digits] = UInt8(ascii: after)
            i += digits + 1
        }
        put(Int(date.year), 4, "-"); put(date.month, 2, "-"); put(date.day, 2, "T")
        put(second / 3600, 2, ":"); put(second / 60 % 60, 2, ":"); put(second % 60, 2, "."); put(Int(ns), 9, "Z")
        return i
    }

    /// `write`, into a buffer that keeps its text from one call to the next: when the time
    /// is in the same second as the last one written there (`second`), only its nanoseconds
    /// are written again. A busy timeline has thousands of lines a second.
    static func write(_ wallNs: Int64, into buf: UnsafeMutableBufferPointer<UInt8>, second: inout Int64?) -> Int {
        var secs = wallNs / 1_000_000_000, ns = wallNs % 1_000_000_000
        if ns < 0 { secs -= 1; ns += 1_000_000_000 }
        guard secs == second else {
            second = secs
            return write(wallNs, into: buf)
        }
        // The nanoseconds' nine digits end one before the "Z" that ends the text.
        var v = Int(ns)
        for k in stride(from: formattedLength - 2, through: formattedLength - 10, by: -1) { buf[k] = UInt8(48 + v % 10); v /= 10 }
        return formattedLength
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

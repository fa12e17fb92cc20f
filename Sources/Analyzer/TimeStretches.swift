/// A window walked a stretch of time at a time, so that an answer over a whole capture
/// (millions of lines) is never held whole. Stretches are consecutive and cover the window;
/// when it has no start (or no end), one more stretch covers everything before the capture's
/// start (or after its last record), in case an event is there.
public enum TimeStretches {
    /// Past this long, a window is worth walking in stretches.
    public static let longest: UInt64 = 10_000_000_000

    /// Whether the window, an open end taken as the capture's, is longer than `longest`.
    public static func isLong(_ capture: Capture, from: UInt64?, to: UInt64?) -> Bool {
        let a = from ?? capture.startBoot, b = to ?? capture.lastRecordTs
        return b > a && b - a > longest
    }

    /// Calls `body` with each stretch's bounds (nil: open) and whether it is the first, in
    /// time order; `body` says how many items the stretch held and whether to go on. A
    /// stretch begins `stretch` long, doubles while it holds few items (a quiet host) and
    /// halves when it holds very many. After a quiet stretch, the walk goes on from `next`,
    /// the first moment after it that can hold an item (nil: none in the window), so that
    /// hours without events, or a damaged end years away, cost one lookup.
    public static func walk(_ capture: Capture, from: UInt64?, to: UInt64?, stretch: UInt64 = 1_000_000_000,
                            next: (UInt64) throws -> UInt64?,
                            _ body: (_ from: UInt64?, _ to: UInt64?, _ first: Bool) throws -> (items: Int, more: Bool)) throws {
        let start = from ?? min(capture.startBoot, to ?? .max)
        let last = to ?? max(capture.lastRecordTs, start)
        var first = true
        if from == nil && start > 0 {
            guard try body(nil, start - 1, true).more else { return }
            first = false
        }
        var a = start, length = max(stretch, 1)
        while true {
            let b = last - a < length ? last : a + length - 1
            let (n, more) = try body(a, b, first)
            guard more else { return }
            first = false
            if b == last { break }
            a = b + 1
            if n < 4_000 {
                // A lookup that fails skips nothing: the walk goes on, a stretch at a time.
                var t: UInt64? = a
                do { t = try next(b) } catch {}
                guard let t, t <= last else { break }
                a = max(a, t)
                if length < 16_000_000_000 { length *= 2 }
            }
            if n > 40_000 && length > 1_000_000 { length /= 2 }
        }
        if to == nil && last < .max { _ = try body(last + 1, nil, false) }
    }
}

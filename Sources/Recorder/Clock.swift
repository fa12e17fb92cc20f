import Foundation

enum Clock {
    static func read(_ id: clockid_t) -> UInt64 {
        var ts = timespec()
        clock_gettime(id, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    static var boot: UInt64 { read(CLOCK_BOOTTIME) }

    /// A (boot, wall) pair read as close together as this machine allows: the
    /// tightest of a few boot–wall–boot brackets, boot taken at its midpoint.
    static func anchor() -> (boot: UInt64, wall: UInt64) {
        var best: (boot: UInt64, wall: UInt64, width: UInt64) = (0, 0, .max)
        for _ in 0..<5 {
            let b1 = read(CLOCK_BOOTTIME), w = read(CLOCK_REALTIME), b2 = read(CLOCK_BOOTTIME)
            if b2 - b1 < best.width { best = (b1 + (b2 - b1) / 2, w, b2 - b1) }
        }
        return (best.boot, best.wall)
    }
}

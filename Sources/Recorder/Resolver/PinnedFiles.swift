import Events

extension LibMapping {
    /// The mapped file itself, while the process lives.
    var mapFilesPath: String { "/proc/\(pid)/map_files/\(String(vmStart, radix: 16))-\(String(vmEnd, radix: 16))" }
}

/// A process's root directory and executable, opened when its exec record was
/// read, so the resolver's worker can act on an exec after the process is gone
/// (a getent lives about a millisecond). -1 where not opened.
struct PinnedExec: Sendable {
    var root: Int32
    var exe: Int32
    static let none = PinnedExec(root: -1, exe: -1)
}

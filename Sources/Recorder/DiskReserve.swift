import Foundation

/// Space set aside beside the capture while it records, given back when the disk
/// fills so the capture can still be finished: the loss written, the end noted,
/// the WAL checkpointed (a full disk otherwise leaves an unfinished capture that
/// says it lost nothing).
final class DiskReserve {
    let path: String
    private var held = false

    /// 16 MiB: the final rows and the checkpoint of a WAL that is checkpointed every 2 s.
    init(beside capture: String, bytes: Int = 16 << 20) {
        path = capture + "-reserve"
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        if posix_fallocate(fd, 0, off_t(bytes)) == 0 { held = true } else { unlink(path) }
    }

    /// Whether the space was set aside (the disk may have been too full to start with).
    var isHeld: Bool { held }

    func release() {
        unlink(path)
        held = false
    }
}

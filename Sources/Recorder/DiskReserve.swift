import Foundation

/// Space set aside beside the capture while it records, given back when the disk
/// fills so the capture can still be finished: the loss written, the end noted,
/// the WAL checkpointed (a full disk otherwise leaves an unfinished capture that
/// says it lost nothing).
final class DiskReserve {
    let path: String
    private let bytes: Int
    private var created = false
    private var held = false

    /// 16 MiB: the final rows and the checkpoint of a WAL that is checkpointed every 2 s.
    init(beside capture: String, bytes: Int = 16 << 20) {
        path = capture + "-reserve"
        self.bytes = bytes
        var fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        // One a killed recorder left (a regular file of exactly this size) is ours to reuse;
        // anything else there is not ours to touch, and the recording goes without.
        if fd < 0 && errno == EEXIST && isLeftover() {
            unlink(path)
            fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        }
        guard fd >= 0 else { return }
        defer { close(fd) }
        created = true
        held = posix_fallocate(fd, 0, off_t(bytes)) == 0
    }

    private func isLeftover() -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && Int(st.st_size) == bytes
    }

    /// Whether the space was set aside (the disk may have been too full to start with).
    var isHeld: Bool { held }

    func release() {
        if created { unlink(path) }
        created = false
        held = false
    }
}

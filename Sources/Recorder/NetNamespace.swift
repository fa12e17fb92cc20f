import CConntrack
import Foundation

/// Network namespaces: entering one for as long as a call takes, and naming one.
enum NetNamespace {
    static func inode(_ path: String) -> UInt32? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return UInt32(truncatingIfNeeded: st.st_ino)
    }

    /// Runs `body` in the network namespace `fd`. Unless that is the caller's own, `body`
    /// runs on a thread of its own that enters the namespace and ends there: no thread of
    /// the recorder's is left in a foreign namespace, even when returning would fail.
    /// (A netfilter link or a Netlink socket stays bound to the namespace it was made in.)
    static func run<T>(in fd: Int32, _ body: () throws -> T) throws -> T {
        let home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard home >= 0 else { throw RecorderError.system("cannot open own network namespace: \(BPFObject.reason(errno))") }
        defer { close(home) }
        var a = stat(), b = stat()
        let same = fstat(fd, &a) == 0 && fstat(home, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev
        if same { return try body() }
        return try withoutActuallyEscaping(body) { body in
            let box = NamespaceCall(body)
            let thread = Thread {
                let rc = nt_setns_net(fd)
                box.result = rc == 0 ? Result { try box.body!() }
                    : .failure(RecorderError.system("setns: \(BPFObject.reason(-rc))"))
                // Let go of `body` before the caller returns: it must not outlive the call.
                box.body = nil
                box.done.signal()
            }
            thread.start()
            box.done.wait()
            return try box.result!.get()
        }
    }
}

/// One call of `run(in:)` handed to its thread; the caller waits on `done` before it
/// reads `result`, so the two threads never touch it at once.
private final class NamespaceCall<T>: @unchecked Sendable {
    var body: (() throws -> T)?
    var result: Result<T, Error>?
    let done = DispatchSemaphore(value: 0)
    init(_ body: @escaping () throws -> T) { self.body = body }
}

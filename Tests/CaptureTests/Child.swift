import Foundation
import Glibc

/// A child process for test scenes, spawned without Foundation.Process.
///
/// Foundation on Linux learns that a child exited when a socket it passed to the child is
/// closed (swift-corelibs-foundation#4795). A daemon the child starts (dockerd from
/// docker-up.sh) inherits that socket, so `waitUntilExit` never returns and the whole
/// suite hangs. Here the child gets no descriptor above 2, its exit comes from `waitpid`,
/// and every wait has a deadline.
final class Child: @unchecked Sendable {
    let pid: pid_t
    let argv: [String]
    private var exitStatus: Int32?

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Starts `argv` (argv[0] is a path) in its own process group, with stdin from
    /// /dev/null, stdout to the file `stdout` (or /dev/null) and stderr shared with the tests.
    init(_ argv: [String], stdout: String? = nil, environment: [String: String] = [:]) throws {
        self.argv = argv
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard Child.closeFrom(&actions, 3) == 0 else { throw Failure(description: "posix_spawn: cannot close inherited descriptors") }

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        // Own group, so a deadline can kill the child's whole tree; default signal
        // handling and mask, whatever the test runner set for itself (SIGPIPE ignored).
        var none = sigset_t(), defaults = sigset_t()
        sigemptyset(&none)
        sigemptyset(&defaults)
        for s in [SIGPIPE, SIGINT, SIGTERM, SIGCHLD, SIGHUP] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0)=\($1)" }
        var cArgs = argv.map { strdup($0) } + [nil]
        var cEnv = env.map { strdup($0) } + [nil]
        defer { (cArgs + cEnv).forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attr, &cArgs, &cEnv)
        guard rc == 0 else { throw Failure(description: "cannot start \(argv[0]): \(String(cString: strerror(rc)))") }
        self.pid = pid
    }

    /// glibc 2.34+ closes every descriptor from `low` up in the child (close_range); the
    /// Swift Glibc module does not import it, so it is looked up by name.
    private static func closeFrom(_ actions: inout posix_spawn_file_actions_t, _ low: Int32) -> Int32 {
        typealias Fn = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else {
            return -1
        }
        return unsafeBitCast(sym, to: Fn.self)(&actions, low)
    }

    /// Reaps the child if it has exited; true while it runs.
    var isRunning: Bool {
        if exitStatus != nil { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { exitStatus = status; return false }
        return true
    }

    /// Waits for exit and returns the exit code (128 + signal if killed). Past the
    /// deadline, kills the child's process group and throws.
    @discardableResult
    func wait(timeout: Double = 300) throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning {
            if Date() > deadline {
                kill(-pid, SIGKILL)
                var status: Int32 = 0
                _ = waitpid(pid, &status, 0)
                exitStatus = status
                throw Failure(description: "timed out after \(Int(timeout)) s, killed: \(argv.joined(separator: " "))")
            }
            usleep(2_000)
        }
        let s = exitStatus!
        return s & 0x7f == 0 ? (s >> 8) & 0xff : 128 + (s & 0x7f)
    }

    /// Signals the child's process group (the child and whatever it started in that group).
    func terminate(_ signal: Int32 = SIGTERM) {
        if isRunning { kill(-pid, signal) }
    }

    /// Terminates and reaps; for teardown.
    func stop(timeout: Double = 10) {
        terminate()
        if (try? wait(timeout: timeout)) == nil { kill(-pid, SIGKILL) }
    }
}

import Analyzer
import Foundation
import Recorder
import XCTest

/// Runs the real recorder in-process on its own thread: real BPF programs,
/// real ring buffers, a real capture file. If BPF cannot load, init throws
/// and the test fails; it never skips.
final class LiveCapture: @unchecked Sendable {
    let path: String
    private let recorder: Recorder
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<RecordSummary, Error>?

    init(name: String = #function, configure: (inout RecordOptions) -> Void = { _ in }) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-tests", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        path = dir.appendingPathComponent(name.filter { $0.isLetter || $0.isNumber } + ".db").path
        var options = RecordOptions(dbPath: path)
        options.force = true
        configure(&options)
        recorder = try Recorder(options: options)
        let ready = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            do { result = .success(try recorder.run { ready.signal() }) } catch { result = .failure(error); ready.signal() }
            done.signal()
        }
        thread.start()
        guard ready.wait(timeout: .now() + 120) == .success else {
            throw Child.Failure(description: "the recorder did not start within 120 s")
        }
        if case .failure(let e)? = result { throw e }
    }

    /// Stops, waits for the file to be closed, and opens it with the analyzer.
    func finish() throws -> (RecordSummary, Capture) {
        recorder.stop()
        guard done.wait(timeout: .now() + 120) == .success else {
            throw Child.Failure(description: "the recorder did not stop within 120 s")
        }
        let summary = try result!.get()
        let capture = try Capture(path: path)
        try capture.load()
        return (summary, capture)
    }
}

/// Runs a shell command to completion and returns its standard output; fails the test
/// on a non-zero exit, and throws if it is still running after `timeout` seconds.
@discardableResult
func sh(_ script: String, timeout: Double = 300, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    // Output goes to a file, not a pipe: a daemon the script starts may keep a pipe open.
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-sh-\(getpid())-\(UInt64.random(in: 0..<UInt64.max)).out").path
    defer { unlink(out) }
    let code = try Child(["/bin/bash", "-c", script], stdout: out).wait(timeout: timeout)
    if code != 0 {
        XCTFail("command failed (\(code)): \(script)", file: file, line: line)
    }
    return (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
}

/// Starts `command` in network namespace `ns` and returns once it has written "ready"
/// to its standard output.
func startInNetns(_ ns: String, _ command: [String], readyFile: String,
                  environment: [String: String] = [:]) throws -> Child {
    let p = try Child(["/usr/sbin/ip", "netns", "exec", ns] + command, stdout: readyFile, environment: environment)
    try awaitReady(p, readyFile)
    return p
}

/// Returns once `child` has written "ready" to `file`; stops it and throws after 5 s.
func awaitReady(_ child: Child, _ file: String) throws {
    for _ in 0..<100 {
        if (try? String(contentsOfFile: file, encoding: .utf8))?.contains("ready") == true { return }
        Thread.sleep(forTimeInterval: 0.05)
    }
    child.stop()
    throw Child.Failure(description: "\(child.argv.joined(separator: " ")) did not start")
}

/// The package root, for scripts under scripts/.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

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
        ready.wait()
        if case .failure(let e)? = result { throw e }
    }

    /// Stops, waits for the file to be closed, and opens it with the analyzer.
    func finish() throws -> (RecordSummary, Capture) {
        recorder.stop()
        done.wait()
        let summary = try result!.get()
        let capture = try Capture(path: path)
        try capture.load()
        return (summary, capture)
    }
}

/// Runs a shell command to completion; fails the test on a non-zero exit.
@discardableResult
func sh(_ script: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/bash")
    p.arguments = ["-c", script]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    if p.terminationStatus != 0 {
        XCTFail("command failed (\(p.terminationStatus)): \(script)", file: file, line: line)
    }
    return String(decoding: data, as: UTF8.self)
}

/// Starts `command` in network namespace `ns` without a shell (a backgrounded shell job
/// would inherit the test runner's descriptors and stall `sh`), and returns once it has
/// written "ready" to its standard output.
func startInNetns(_ ns: String, _ command: [String], readyFile: String,
                  environment: [String: String] = [:]) throws -> Process {
    FileManager.default.createFile(atPath: readyFile, contents: nil)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
    p.arguments = ["netns", "exec", ns] + command
    p.standardOutput = FileHandle(forWritingAtPath: readyFile)
    p.standardInput = FileHandle.nullDevice
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    try p.run()
    for _ in 0..<100 {
        if (try? String(contentsOfFile: readyFile, encoding: .utf8))?.contains("ready") == true { return p }
        Thread.sleep(forTimeInterval: 0.05)
    }
    p.terminate()
    throw NSError(domain: "scene", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(command.joined(separator: " ")) did not start"])
}

/// The package root, for scripts under scripts/.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

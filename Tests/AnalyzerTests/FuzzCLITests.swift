import Foundation
import XCTest

/// The real `nettrail` binary over 200 of FuzzTests' hostile inputs, each with a
/// subcommand and arguments (hostile ones among them): it exits 0, or 1 or 2 with exactly
/// one line on stderr; never a signal, a backtrace, or a run longer than `limit`.
final class FuzzCLITests: XCTestCase {
    static let runs = ProcessInfo.processInfo.environment["NT_FUZZ_CLI_RUNS"].flatMap(Int.init) ?? 200
    static let limit = 30.0

    static let hostileTimes = ["9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "+8999999999", "-5", "2026-02-30T00:00:00Z",
                               "1e308", "+nan", " ", "+-1", "18446744073709551616", "2026-12-02T17:03:29Z", "+1.5", "+0"]
    static let hostilePids = ["-1", "4294967296", "99999999999999999999", "0", "1", "nan"]
    static let hostileAddrs = ["10.0.0.1:80", "[::1]:65536", "::1", "300.1.1.1", ":", "10.0.0.1:-1", "[fe80::1%eth0]:22"]

    struct Outcome { var status: Int32; var signaled: Bool; var timedOut: Bool; var stderr: String }

    /// stderr goes to a file, not a pipe: a hung run is stopped without a reader blocked on it.
    static func run(_ args: [String], stderrFile: String) throws -> Outcome {
        FileManager.default.createFile(atPath: stderrFile, contents: nil)
        let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrFile))
        defer { try? errHandle.close() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.binary)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = errHandle
        let exited = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in exited.signal() }
        try p.run()
        let timedOut = exited.wait(timeout: .now() + limit) == .timedOut
        if timedOut { p.terminate(); exited.wait() }
        let stderr = (try? String(contentsOfFile: stderrFile, encoding: .utf8)) ?? ""
        return Outcome(status: p.terminationStatus, signaled: p.terminationReason == .uncaughtSignal,
                       timedOut: timedOut, stderr: stderr)
    }

    /// Subcommand `i % 9` over `path`, with arguments drawn from the hostile lists now and then.
    static func arguments(_ i: Int, path: String, casePath: String?) -> [String] {
        var r = EvidenceMutator.RNG(state: FuzzTests.seed &+ UInt64(i) &* 0x51_7CC1)
        let time = r.chance(25) ? r.pick(hostileTimes) : "+\(r.below(5)).\(r.below(10))"
        let addr = r.chance(20) ? r.pick(hostileAddrs) : "10.0.0.1:80"
        var args: [String]
        switch i % 9 {
        case 0: args = ["info", path]
        case 1: args = ["processes", path, "--from", time] + (r.chance(30) ? ["--pid", r.pick(hostilePids)] : [])
        case 2: args = ["connections", path, "--to", time, "--format", "json"]
        case 3: args = ["who", path, "--at", time, "--addr", addr] + (r.chance(30) ? ["--slack", r.pick(["1e308", "-0", "nan", "inf", "3"])] : [])
        case 4: args = ["timeline", path, "--format", "csv"]
        case 5: args = ["nat", path, "--at", time, "--addr", addr]
        case 6: args = ["dns", path, "--from", time]
        case 7: args = ["index", path, "--rebuild"]
        default: args = ["verify", path]
        }
        if let casePath, args[0] != "verify" { args += ["--case", casePath] }
        return args
    }

    func testHostileInputsThroughTheBinaryEndInOneLineOrAnAnswer() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: CLITests.binary), "build nettrail first: \(CLITests.binary)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-fuzz-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let began = Date()
        let baseCase = dir + "/base.case"
        let start = Int64(clamping: try FuzzTests.baseCase(at: baseCase))
        var failures: [String] = []
        var statuses: [Int32: Int] = [:]
        for i in 0..<Self.runs {
            // Offset from the in-process inputs: these are others of the same kinds.
            let n = 1_000_000 + i
            let (path, casePath, what) = try FuzzTests.make(n, in: dir, baseCase: baseCase, start: start)
            let args = Self.arguments(i, path: path, casePath: casePath)
            let o = try Self.run(args, stderrFile: dir + "/stderr")
            statuses[o.status, default: 0] += 1
            let lines = o.stderr.split(separator: "\n")
            var bad: String?
            if o.timedOut { bad = "ran longer than \(Self.limit) s" }
            else if o.signaled { bad = "killed by signal \(o.status)" }
            else if ![0, 1, 2].contains(o.status) { bad = "exit \(o.status)" }
            // verify says what is damaged on stdout and exits 1: its answer, not an error line.
            else if o.status != 0 && !(args[0] == "verify" && o.status == 1 && lines.isEmpty)
                        && (lines.count != 1 || !lines[0].hasPrefix("nettrail: ")) { bad = "stderr is not one line" }
            else if o.stderr.contains("Fatal error") || o.stderr.contains("Backtrace") { bad = "a backtrace" }
            if let bad { failures.append("input \(n) (\(what)) with \(args.dropFirst(2).joined(separator: " ")): \(bad): \(o.stderr.prefix(300))") }
        }
        for f in failures { print("fuzz-cli: \(f)") }
        XCTAssertEqual(failures, [])
        let seconds = String(format: "%.1f", Date().timeIntervalSince(began))
        print("fuzz-cli: \(Self.runs) runs of the nettrail binary in \(seconds) s: exit statuses \(statuses.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")); \(failures.count) failures")
    }
}

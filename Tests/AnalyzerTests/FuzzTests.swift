@testable import Analyzer
import Format
import Foundation
import XCTest

/// A bounded fuzz loop over the real fixture capture: every input is a hostile variant
/// (EvidenceMutator) run through the analyzer in process (open, index, queries), in
/// forked workers so that a trap or a hang ends one worker and is reported with its input.
/// An error is the right answer to damage; a crash, a hang (3 × `hangSeconds`, SIGALRM) or
/// an input slower than `hangSeconds` fails the test. NT_FUZZ_INPUTS sets the count
/// (default 10,000), NT_FUZZ_SEED the seed, NT_FUZZ_ONLY one input to replay in process
/// (its backtrace then shows where it traps); `lastInputFile` names the last crashing input.
final class FuzzTests: XCTestCase {
    static let inputs = ProcessInfo.processInfo.environment["NT_FUZZ_INPUTS"].flatMap(Int.init) ?? 10_000
    static let seed = ProcessInfo.processInfo.environment["NT_FUZZ_SEED"].flatMap(UInt64.init) ?? 0x6E74_726C
    static let only = ProcessInfo.processInfo.environment["NT_FUZZ_ONLY"].flatMap(Int.init)
    static let hangSeconds = 10.0
    static let lastInputFile = NSTemporaryDirectory() + "nettrail-fuzz-last-input.txt"
    static let fixture = FixtureTests.fixtures.appendingPathComponent("processes.db").path

    var dir: String!

    override func setUpWithError() throws {
        // Inputs are written and read 10,000 times: memory, where there is a tmpfs for it.
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory()
        dir = base + "nettrail-fuzz-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// Which kind input `i` is: most inputs change a built case (no index to rebuild), the
    /// rest go through indexing. Per 20: 13 case rows, 2 capture rows, 3 segments, 2 file bytes.
    static func kind(_ i: Int) -> EvidenceMutator.Kind {
        switch i % 20 {
        case 0..<13: return .caseRows
        case 13..<15: return .captureRows
        case 15..<18: return .segment
        default: return .fileBytes
        }
    }

    /// The analyzer's paths over one file: what each subcommand runs. Errors are answers.
    nonisolated(unsafe) static var phase: [String: Double] = [:]
    static func timed(_ name: String, _ body: () -> Void) {
        let t0 = Date(); body(); phase[name, default: 0] += Date().timeIntervalSince(t0)
    }

    /// The analyzer's paths over input `i`: open (and index), info, the decode notes, verify, and
    /// one of two halves of the queries in turn (each query thus meets half of the inputs, which
    /// keeps 10,000 inputs within about three minutes of two cores). Errors are answers.
    static func exercise(_ i: Int, _ path: String, casePath: String?) {
        var opened: Capture?
        timed("open") { opened = try? Capture(path: path, casePath: casePath, progress: false) }
        guard let c = opened else { return }
        timed("load") { _ = try? c.load() }
        let mid = c.startBoot &+ 1_000_000_000
        timed("info") { _ = try? InfoQuery.run(c) }
        timed("verify") { if c.evidence != nil { _ = try? VerifyQuery.run(path: path) } }
        timed("times") {
            _ = try? c.window(from: "+0.5", to: "+99999")
            _ = try? c.moment("+1", slack: 1_000_000_000)
        }
        if i % 2 == 0 {
            timed("processes") {
                _ = ProcessQuery.run(c, ProcessFilter())
                _ = ProcessQuery.run(c, ProcessFilter(from: c.startBoot, to: mid, container: "fx-short-container", pid: 1, name: "*sh"))
            }
            timed("timeline") { _ = try? TimelineQuery.run(c, nat: try? ConntrackNATResolver(c)) }
            timed("dns") { _ = try? DNSQuery.run(c, DNSFilter()) }
        } else {
            let nat = try? ConntrackNATResolver(c)
            timed("connections") {
                _ = try? ConnectionsQuery.run(c, ConnectionFilter(), nat: nat)
                _ = try? ConnectionsQuery.run(c, ConnectionFilter(from: c.startBoot, to: mid, remote: Endpoint(ip: "10.0.0.1", port: 80)), nat: nat)
            }
            timed("who") {
                _ = try? WhoQuery.run(c, at: mid, addr: Endpoint(ip: "10.0.0.1", port: 80), proto: nil, slack: 1_000_000_000, nat: nat)
                _ = try? WhoQuery.run(c, at: .max, addr: Endpoint(ip: "10.0.0.1", port: nil), proto: .tcp, slack: .max, nat: nat)
            }
            timed("nat") {
                let ep = NATEndpoint(addr: "10.0.0.1", port: 80)
                if let index = try? NATIndex(reader: c.reader, touching: ep, from: mid, to: mid) {
                    _ = NATQuery.run(c, index: index, endpoint: ep, at: mid, proto: nil, includeUntranslated: true)
                }
            }
        }
        _ = c.decodeNotes()
    }

    /// Builds the fixture's case at `path` (what case-row inputs start from); returns the capture's start.
    static func baseCase(at path: String) throws -> UInt64 {
        try Capture(path: fixture, casePath: path, progress: false).startBoot
    }

    /// Makes input `i` in `dir` and returns its path, the case path to use, and what was done.
    static func make(_ i: Int, in dir: String, baseCase: String, start: Int64) throws -> (String, String?, String) {
        var r = EvidenceMutator.RNG(state: seed &+ UInt64(i) &* 0x9E37_79B9)
        let kind = kind(i)
        let path = dir + "/input-\(i % 4)" + (kind == .caseRows ? ".case" : ".db")
        let casePath = dir + "/input-\(i % 4).built.case"
        for p in [path, path + "-wal", path + "-shm", path + "-journal", casePath] { unlink(p) }
        try FileManager.default.copyItem(atPath: kind == .caseRows ? baseCase : fixture, toPath: path)
        var what = "\(kind.rawValue): "
        switch kind {
        case .caseRows, .captureRows:
            let db = try Database(path: path, mode: .create)
            what += try EvidenceMutator.mutateRows(db, &r, near: start, skip: ["segment"])
        case .segment:
            let db = try Database(path: path, mode: .create)
            what += try EvidenceMutator.mutateSegment(db, &r)
        case .fileBytes:
            what += try EvidenceMutator.flipBytes(path, &r)
        }
        return (path, kind == .caseRows ? nil : casePath, what)
    }

    /// What one worker (a forked child) found: lines "done N", "slow SECONDS INPUT", "phase NAME SECONDS".
    static func worker(_ inputs: [Int], dir: String, baseCase: String, start: Int64, progress: String, report: String) -> Never {
        var out = ""
        var done = 0
        for i in inputs {
            guard let (path, casePath, what) = try? make(i, in: dir, baseCase: baseCase, start: start) else {
                out += "unmade \(i)\n"; continue
            }
            try? "\(i)\t\(what)".write(toFile: progress, atomically: false, encoding: .utf8)
            // A hang ends the worker with SIGALRM; the parent reads which input from `progress`.
            alarm(UInt32(hangSeconds * 3))
            let t0 = Date()
            exercise(i, path, casePath: casePath)
            let took = Date().timeIntervalSince(t0)
            if took > hangSeconds { out += "slow \(took) input \(i): \(what)\n" }
            done += 1
        }
        alarm(0)
        out += "done \(done)\n" + phase.map { "phase \($0.key) \($0.value)\n" }.joined()
        try? out.write(toFile: report, atomically: true, encoding: .utf8)
        _exit(0)
    }

    func testTenThousandHostileVariantsOfARealCaptureNeitherCrashNorHang() throws {
        let began = Date()
        let baseCase = dir + "/base.case"
        let start = Int64(clamping: try Self.baseCase(at: baseCase))
        if let i = Self.only {
            let (path, casePath, what) = try Self.make(i, in: dir, baseCase: baseCase, start: start)
            print("fuzz: replaying input \(i): \(what)")
            return Self.exercise(i, path, casePath: casePath)
        }
        let all = Array(0..<Self.inputs)
        // Workers, one per core: a crash or hang ends only its worker, which names the input and is
        // restarted after it, so one run lists every crashing input.
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 4))
        var queues = (0..<workers).map { w in all.enumerated().filter { $0.offset % workers == w }.map(\.element) }
        var crashes: [String] = [], slow: [String] = []
        var done = 0
        var phases: [String: Double] = [:]
        var running: [pid_t: Int] = [:]
        func spawn(_ w: Int) {
            let wdir = dir + "/w\(w)"
            try? FileManager.default.createDirectory(atPath: wdir, withIntermediateDirectories: true)
            unlink(wdir + "/progress"); unlink(wdir + "/report")
            let pid = fork()
            if pid == 0 {
                Self.worker(queues[w], dir: wdir, baseCase: baseCase, start: start,
                            progress: wdir + "/progress", report: wdir + "/report")
            }
            running[pid] = w
        }
        for w in 0..<workers where !queues[w].isEmpty { spawn(w) }
        while !running.isEmpty {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, 0)
            guard pid > 0, let w = running.removeValue(forKey: pid) else { continue }
            let wdir = dir + "/w\(w)"
            if status & 0x7f != 0 {
                let line = (try? String(contentsOfFile: wdir + "/progress", encoding: .utf8)) ?? ""
                let i = Int(line.prefix { $0 != "\t" }) ?? -1
                let what = status & 0x7f == SIGALRM ? "hang" : "crash (signal \(status & 0x7f))"
                crashes.append("\(what) on input \(i): \(line.drop { $0 != "\t" }.dropFirst())")
                try? "input \(i) (seed \(Self.seed)): \(line)\n".write(toFile: Self.lastInputFile, atomically: true, encoding: .utf8)
                // Done up to and including i; the rest of this worker's queue runs in a new worker.
                if let at = queues[w].firstIndex(of: i) {
                    done += at + 1
                    queues[w].removeFirst(at + 1)
                } else { queues[w] = [] }
                if !queues[w].isEmpty { spawn(w) }
                continue
            }
            let report = (try? String(contentsOfFile: wdir + "/report", encoding: .utf8)) ?? ""
            XCTAssertFalse(report.isEmpty, "worker \(w) ended without a report (status \(status))")
            for line in report.split(separator: "\n") {
                let f = line.split(separator: " ", maxSplits: 2)
                switch f.first {
                case "done": done += Int(f[1]) ?? 0
                case "slow": slow.append(String(line))
                case "phase": phases[String(f[1]), default: 0] += Double(f[2]) ?? 0
                default: slow.append("unexpected report line: \(line)")
                }
            }
        }
        for c in crashes { print("fuzz: \(c)") }
        XCTAssertEqual(crashes, [], "crashing or hanging inputs (replay one with NT_FUZZ_ONLY=N)")
        XCTAssertEqual(slow, [], "inputs slower than \(Self.hangSeconds) s")
        let seconds = String(format: "%.1f", Date().timeIntervalSince(began))
        let split = phases.sorted { $0.value > $1.value }.map { "\($0.key) " + String(format: "%.1f", $0.value) }
        print("fuzz: \(done) inputs (seed \(Self.seed), \(workers) workers) in \(seconds) s: \(crashes.count) crashes or hangs, "
              + "\(slow.count) slower than \(Int(Self.hangSeconds)) s; seconds by step: \(split.joined(separator: ", "))")
        XCTAssertGreaterThanOrEqual(done, min(Self.inputs, 10_000))
    }
}

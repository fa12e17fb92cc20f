import Foundation
import XCTest

/// The analyzer binary itself: bad input gets one clear line on stderr and a
/// non-zero exit, never a crash or a stack trace.
final class CLITests: XCTestCase {
    static let binary: String = {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for dir in [here, here.deletingLastPathComponent()] {
            let p = dir.appendingPathComponent("nettrail").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/nettrail").path
    }()

    struct Run { var status: Int32; var stdout: String; var stderr: String }

    static func run(_ args: [String]) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    var dir: URL!
    override func setUpWithError() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.binary), "build nettrail first: \(Self.binary)")
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func assertOneLineError(_ args: [String], contains text: String, status: Int32? = nil,
                            file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try Self.run(args)
        XCTAssertNotEqual(r.status, 0, file: file, line: line)
        if let status { XCTAssertEqual(r.status, status, "\(args): \(r.stderr)", file: file, line: line) }
        XCTAssertTrue(r.stdout.isEmpty, r.stdout, file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "stderr: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.contains(text), "stderr: \(r.stderr)", file: file, line: line)
        XCTAssertFalse(r.stderr.contains("Fatal error"), file: file, line: line)
    }

    func testMissingForeignAndDamagedFiles() throws {
        let missing = dir.appendingPathComponent("missing.db").path
        try assertOneLineError(["info", missing], contains: "no such file")
        try assertOneLineError(["processes", dir.path], contains: "no such file")

        let text = dir.appendingPathComponent("notes.txt").path
        try Data("not a database at all\n".utf8).write(to: URL(fileURLWithPath: text))
        try assertOneLineError(["info", text], contains: "not a nettrail capture")

        let empty = dir.appendingPathComponent("empty.db").path
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        try assertOneLineError(["processes", empty], contains: "not a nettrail capture")
    }

    func testUsageErrorsAreOneLine() throws {
        try assertOneLineError(["who"], contains: "Missing expected argument '<file>'", status: 2)
        try assertOneLineError(["nat", "x.db", "--at"], contains: "Missing value for '--at")
        try assertOneLineError(["processes", "x.db", "--format", "xml"], contains: "'xml' is invalid for '--format")
        try assertOneLineError(["frobnicate"], contains: "Unexpected argument 'frobnicate'")
        let help = try Self.run(["who", "--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("USAGE:"), help.stdout)
    }

    /// Arguments that once crashed the analyzer or were misread: each is one line, exit 2
    /// (a usage error, as conntrack's), and a time outside the capture quotes its span.
    func testCraftedArgumentsAreUsageErrors() throws {
        let db = FixtureTests.fixtures.appendingPathComponent("processes.db").path
        let who = ["who", db, "--addr", "10.0.0.1:80"]
        try assertOneLineError(who + ["--at", "9999-12-31T23:59:59Z"], contains: "outside the times nettrail reads", status: 2)
        try assertOneLineError(who + ["--at", "0000-01-01T00:00:00Z"], contains: "outside the times nettrail reads", status: 2)
        try assertOneLineError(who + ["--at", "2026-02-30T00:00:00Z"], contains: "2026-02 has no day 30", status: 2)
        try assertOneLineError(who + ["--at", "-5x"], contains: "invalid time '-5x'", status: 2)
        try assertOneLineError(who + ["--at", "1.0"], contains: "is before the capture, which runs from", status: 2)
        try assertOneLineError(who + ["--at", "+1", "--slack", "1e308"], contains: "--slack must be", status: 2)
        try assertOneLineError(who + ["--at", "+1", "--slack", "-1"], contains: "--slack must be", status: 2)
        try assertOneLineError(who + ["--at", "+1", "--slack", "nan"], contains: "--slack must be", status: 2)
        try assertOneLineError(who + ["--at", "+8999999999"], contains: "is after the capture, which runs from 2026-", status: 2)
        try assertOneLineError(who + ["--at", "1970-01-01T00:00:00Z"], contains: "is before the capture, which runs from", status: 2)
        try assertOneLineError(["who", db, "--at", "+1", "--addr", "nowhere"], contains: "--addr nowhere", status: 2)
        try assertOneLineError(["processes", db, "--pid", "-1"], contains: "'-1' is invalid for '--pid", status: 2)
        try assertOneLineError(["processes", db, "--from", "+8999999999"], contains: "is after the capture", status: 2)
        try assertOneLineError(["timeline", db, "--to", "1000"], contains: "is before the capture", status: 2)
        try assertOneLineError(["nat", db, "--addr", "10.0.0.1", "--proto", "carrier-pigeon"], contains: "unknown protocol", status: 2)
        try assertOneLineError(["dns", db, "--addr", "10.0.0.1:53"], contains: "not an IP address", status: 2)
        try assertOneLineError(["connections", db, "--remote", "x:y:z:"], contains: "--remote", status: 2)

        // A window reaching past the capture is answered for the part recorded, and says so.
        let late = try Self.run(["processes", db, "--pid", "1", "--to", "+8999999999"])
        XCTAssertEqual(late.status, 0, late.stderr)
        XCTAssertTrue(late.stdout.contains("note: --to +8999999999 is after the capture, which runs from"), late.stdout)
    }

    func testBadTimesAreRejected() throws {
        // A time's form is an argument's: refused before the file is even looked at.
        try assertOneLineError(["processes", dir.appendingPathComponent("x.db").path, "--from", "yesterday"],
                               contains: "--from: invalid time 'yesterday'", status: 2)
    }
}

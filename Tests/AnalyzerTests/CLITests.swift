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

    func assertOneLineError(_ args: [String], contains text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try Self.run(args)
        XCTAssertNotEqual(r.status, 0, file: file, line: line)
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
        FileManager.default.createFile(atPath: empty, contents: Data())
        try assertOneLineError(["processes", empty], contains: "not a nettrail capture")
    }

    func testUsageErrorsAreOneLine() throws {
        try assertOneLineError(["who"], contains: "Missing expected argument '<file>'")
        try assertOneLineError(["nat", "x.db", "--at"], contains: "Missing value for '--at")
        try assertOneLineError(["processes", "x.db", "--format", "xml"], contains: "'xml' is invalid for '--format")
        try assertOneLineError(["frobnicate"], contains: "Unexpected argument 'frobnicate'")
        let help = try Self.run(["who", "--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("USAGE:"), help.stdout)
    }

    func testBadTimesAreRejected() throws {
        // Any file will do: time parsing needs a capture, so use a foreign one to check ordering of errors too.
        try assertOneLineError(["processes", dir.appendingPathComponent("x.db").path, "--from", "yesterday"],
                               contains: "no such file")
    }
}

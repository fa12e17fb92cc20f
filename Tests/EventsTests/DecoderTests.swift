import CEventABI
import Events
import Format
import Foundation
import XCTest

/// Decoders read raw records as the kernel lays them out: made here byte by byte, no root, no BPF.
final class DecoderTests: XCTestCase {
    var path: String!

    override func setUpWithError() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-dec-\(UUID().uuidString).case").path
    }

    override func tearDownWithError() throws { unlink(path) }

    func decode(_ records: [[UInt8]]) throws -> (TimelineReader, errors: Int) {
        let w = try TimelineWriter(path: path, force: true, kind: .caseDatabase)
        let d = RecordDecoders()
        var errors = 0
        for r in records {
            do { try r.withUnsafeBytes { try d.write($0.baseAddress!, size: $0.count, into: w) } } catch is DecodeError { errors += 1 }
        }
        try w.close()
        return (try TimelineReader(path: path, kind: .caseDatabase), errors)
    }

    func bytes<T>(_ v: inout T) -> [UInt8] { withUnsafeBytes(of: &v) { Array($0) } }

    func testExecRecordBecomesItsRow() throws {
        var e = nt_exec_event()
        e.ts = 1_000
        e.kind = NT_KIND_EXEC.rawValue
        e.task.pid = 42
        e.task.start_ns = 900
        e.task.ppid = 1
        withUnsafeMutableBytes(of: &e.task.comm) { $0.copyBytes(from: Array("true".utf8)) }
        let file = Array("/bin/true".utf8), args = Array("true\0-x\0".utf8)
        withUnsafeMutableBytes(of: &e.filename) { $0.copyBytes(from: file) }
        withUnsafeMutableBytes(of: &e.args) { $0.copyBytes(from: args) }
        e.filename_len = UInt16(file.count)
        e.args_len = UInt16(args.count)
        let (r, errors) = try decode([bytes(&e)])
        XCTAssertEqual(errors, 0)
        let st = try r.db.prepare("SELECT ts, pid, start_ns, comm, filename, argv FROM process_exec")
        XCTAssertTrue(try st.step())
        XCTAssertEqual(st.uint64(0), 1_000)
        XCTAssertEqual(st.int(1), 42)
        XCTAssertEqual(st.uint64(2), 900)
        XCTAssertEqual(st.string(3), "true")
        XCTAssertEqual(st.string(4), "/bin/true")
        // The kernel's trailing NUL goes; the separator between arguments stays.
        XCTAssertEqual(st.blob(5), Array("true\0-x".utf8))
        XCTAssertFalse(try st.step())
    }

    /// The kernel writes an exec record only as far as its argv (bpf/process.bpf.c); shorter than
    /// that it is malformed.
    func testExecRecordEndsWithItsArgv() throws {
        var e = nt_exec_event()
        e.ts = 2_000
        e.kind = NT_KIND_EXEC.rawValue
        e.task.pid = 43
        let file = Array("/bin/sh".utf8), args = Array("sh\0-c\0true\0".utf8)
        withUnsafeMutableBytes(of: &e.filename) { $0.copyBytes(from: file) }
        withUnsafeMutableBytes(of: &e.args) { $0.copyBytes(from: args) }
        e.filename_len = UInt16(file.count)
        e.args_len = UInt16(args.count)
        let argsOffset = MemoryLayout<nt_exec_event>.offset(of: \nt_exec_event.args)!
        let whole = bytes(&e)
        let (r, errors) = try decode([Array(whole[..<(argsOffset + args.count)]), Array(whole[..<(argsOffset - 1)])])
        XCTAssertEqual(errors, 1, "a record cut before its argv is malformed")
        let st = try r.db.prepare("SELECT pid, filename, argv FROM process_exec")
        XCTAssertTrue(try st.step())
        XCTAssertEqual(st.int(0), 43)
        XCTAssertEqual(st.string(1), "/bin/sh")
        XCTAssertEqual(st.blob(2), Array("sh\0-c\0true".utf8))
        XCTAssertFalse(try st.step())
    }

    func testTCPConnectRecordBecomesItsRow() throws {
        var e = nt_tcp_event()
        e.ts = 5_000
        e.kind = NT_KIND_TCP_CONNECT.rawValue
        e.flags = NT_SF_OWNER
        e.cookie = 77
        e.task.pid = 7
        e.task.start_ns = 70
        e.tuple.family = 2
        e.tuple.lport = 40_000
        e.tuple.rport = 80
        withUnsafeMutableBytes(of: &e.tuple.laddr) { $0.copyBytes(from: [10, 0, 0, 1]) }
        withUnsafeMutableBytes(of: &e.tuple.raddr) { $0.copyBytes(from: [10, 0, 0, 2]) }
        let (r, errors) = try decode([bytes(&e)])
        XCTAssertEqual(errors, 0)
        let st = try r.db.prepare("SELECT kind, pid, laddr, lport, raddr, rport, cookie FROM tcp_event")
        XCTAssertTrue(try st.step())
        XCTAssertEqual(st.int(0), TcpEventKind.connect.rawValue)
        XCTAssertEqual(st.int(1), 7)
        XCTAssertEqual(st.string(2), "10.0.0.1")
        XCTAssertEqual(st.int(3), 40_000)
        XCTAssertEqual(st.string(4), "10.0.0.2")
        XCTAssertEqual(st.int(5), 80)
        XCTAssertEqual(st.int(6), 77)
    }

    /// A span is the connect it stands for and the close: two rows, the open's own
    /// time, flags and result, the close's counters; the socket fields shared.
    func testTCPSpanRecordBecomesItsOpenAndClose() throws {
        var s = nt_tcp_span()
        s.close.ts = 9_000
        s.close.kind = NT_KIND_TCP_SPAN.rawValue
        s.close.flags = NT_SF_OWNER | NT_SF_ESTABLISHED
        s.close.cookie = 78
        s.close.start_ts = 4_000
        s.close.task.pid = 8
        s.close.tuple.family = 2
        s.close.tuple.lport = 40_001
        s.close.tuple.rport = 443
        s.close.bytes_acked = 1_234
        s.close.oldstate = 4
        withUnsafeMutableBytes(of: &s.close.tuple.laddr) { $0.copyBytes(from: [10, 0, 0, 1]) }
        withUnsafeMutableBytes(of: &s.close.tuple.raddr) { $0.copyBytes(from: [10, 0, 0, 3]) }
        s.open_ts = 5_000
        s.open_kind = NT_KIND_TCP_CONNECT.rawValue
        s.open_flags = NT_SF_OWNER
        s.open_result = -111
        let (r, errors) = try decode([bytes(&s)])
        XCTAssertEqual(errors, 0)
        let st = try r.db.prepare("SELECT ts, kind, flags, pid, lport, rport, cookie, start_ts, result, bytes_acked FROM tcp_event ORDER BY ts")
        XCTAssertTrue(try st.step())
        XCTAssertEqual([st.int(0), st.int(1), st.int(2), st.int(3), st.int(4), st.int(5), st.int(6), st.int(7), st.int(8)],
                       [5_000, TcpEventKind.connect.rawValue, Int(NT_SF_OWNER), 8, 40_001, 443, 78, 4_000, -111])
        XCTAssertTrue(st.isNull(9) || st.int(9) == 0)
        XCTAssertTrue(try st.step())
        XCTAssertEqual([st.int(0), st.int(1), st.int(3), st.int(6), st.int(9)],
                       [9_000, TcpEventKind.close.rawValue, 8, 78, 1_234])
        XCTAssertFalse(try st.step())

        // Shorter than a span: an error, not half a connection.
        let short = Array(bytes(&s).prefix(MemoryLayout<nt_tcp_event>.size))
        XCTAssertEqual(try decode([short]).errors, 1)
    }

    /// A record too short for its kind, of a kind no decoder has, or shorter than its
    /// header is a decode error: counted, never a trap and never a row.
    func testMalformedRecordsAreErrorsNotRows() throws {
        var e = nt_tcp_event()
        e.kind = NT_KIND_TCP_CLOSE.rawValue
        let short = Array(bytes(&e).prefix(40))
        var unknown = [UInt8](repeating: 0, count: 64)
        unknown[8] = 200
        let tiny = [UInt8](repeating: 0, count: 5)
        let (r, errors) = try decode([short, unknown, tiny])
        XCTAssertEqual(errors, 3)
        XCTAssertEqual(try r.count("tcp_event"), 0)
    }

    /// The library-mapping record the resolver's arming acts on (never archived): read from bytes too.
    func testLibMappingRecordBecomesItsMapping() throws {
        var e = nt_lib_event()
        e.ts = 7_000
        e.kind = NT_KIND_DNS_LIB.rawValue
        e.how = UInt32(NT_LIB_HOW_INTERP)
        e.task.pid = 77
        e.task.start_ns = 6_000
        e.task.ppid = 1
        e.key.dev = 0x80_0001
        e.key.ino = 4242
        e.vm_start = 0x7f00_0000_0000
        e.vm_end = 0x7f00_0010_0000
        withUnsafeMutableBytes(of: &e.name) { $0.copyBytes(from: Array("ld-musl-x86_64.so.1".utf8)) }
        let whole = bytes(&e)
        let m = try whole.withUnsafeBytes { try LibRecords.mapping($0.baseAddress!, size: $0.count) }
        XCTAssertEqual([m.ts, UInt64(m.pid), m.startNs, UInt64(m.ppid), m.kdev, m.ino, m.vmStart, m.vmEnd],
                       [7_000, 77, 6_000, 1, 0x80_0001, 4242, 0x7f00_0000_0000, 0x7f00_0010_0000])
        XCTAssertTrue(m.viaInterpreter)
        XCTAssertEqual(m.name, "ld-musl-x86_64.so.1")
        XCTAssertThrowsError(try whole.withUnsafeBytes { try LibRecords.mapping($0.baseAddress!, size: $0.count - 1) })
    }
}

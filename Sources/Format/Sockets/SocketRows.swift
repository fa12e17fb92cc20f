import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Rows of the socket stream (bpf/sockets.bpf.c): TCP connect/accept/close
/// and UDP flows, as the kernel reported them.
public enum TcpEventKind: Int, Sendable, CustomStringConvertible {
    case connect = 1, accept = 2, close = 3
    /// Open in a process's file table when the recording started (one row per process holding it).
    case snapshot = 4
    public var description: String {
        switch self { case .connect: "connect"; case .accept: "accept"; case .close: "close"; case .snapshot: "snapshot" }
    }
}

/// Mirrors NT_SF_* in bpf/nettrail.h.
public struct SocketFlags: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// The task columns were read in the owner's own context (else they are zero).
    public static let owner = SocketFlags(rawValue: 1 << 0)
    /// No per-socket state: the socket predates the recorder, or the state map was full.
    public static let noState = SocketFlags(rawValue: 1 << 1)
    /// UDP: the socket was bound to the wildcard address.
    public static let localAny = SocketFlags(rawValue: 1 << 2)
    /// UDP: the destination of an unconnected send could not be read.
    public static let remoteUnknown = SocketFlags(rawValue: 1 << 3)
    /// CONNECT reported when SYN_SENT ended, no connect() return seen.
    public static let notSyscall = SocketFlags(rawValue: 1 << 4)
    /// UDP: first seen receiving.
    public static let udpReceive = SocketFlags(rawValue: 1 << 5)
    /// CLOSE: the connection had been established.
    public static let established = SocketFlags(rawValue: 1 << 6)
    /// A snapshot row (socket open at start).
    public static let snapshot = SocketFlags(rawValue: 1 << 7)
    /// The socket was open in several processes at start: no single owner is recorded.
    public static let shared = SocketFlags(rawValue: 1 << 8)
}

/// Local and remote ends; addresses in their canonical text form (IPv4-mapped
/// IPv6 already folded into IPv4 by the kernel side).
public struct SocketTuple: Sendable, Hashable {
    public var family: UInt16
    public var laddr: String
    public var lport: UInt16
    public var raddr: String
    public var rport: UInt16
    public init(family: UInt16, laddr: String, lport: UInt16, raddr: String, rport: UInt16) {
        self.family = family; self.laddr = laddr; self.lport = lport; self.raddr = raddr; self.rport = rport
    }

    /// `bytes` holds 4 (AF_INET) or 16 (AF_INET6) bytes in network order.
    public static func address(family: UInt16, _ bytes: UnsafeRawPointer) -> String {
        var buf = [CChar](repeating: 0, count: 64)
        let af: Int32 = family == 10 ? AF_INET6 : AF_INET
        guard inet_ntop(af, bytes, &buf, socklen_t(buf.count)) != nil else { return "?" }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static let columnNames = "family, laddr, lport, raddr, rport"
    func bind(_ st: Statement, at i: Int32) {
        st.bind(i, Int(family)); st.bind(i + 1, laddr); st.bind(i + 2, Int(lport))
        st.bind(i + 3, raddr); st.bind(i + 4, Int(rport))
    }
    public static func read(_ st: Statement, at i: Int32) -> SocketTuple {
        SocketTuple(family: st.uint16(i), laddr: st.string(i + 1) ?? "", lport: st.uint16(i + 2),
                    raddr: st.string(i + 3) ?? "", rport: st.uint16(i + 4))
    }
}

public struct TcpEventRow: Sendable {
    /// ts is the event time; the task columns are zero unless `flags` has `.owner`.
    public var task: TaskRow
    public var kind: TcpEventKind
    public var flags: SocketFlags
    /// The socket's network namespace (the task's is `task.netns`).
    public var sockNetns: UInt32
    public var tuple: SocketTuple
    public var cookie: UInt64
    public var sk: UInt64
    /// SYN_SENT (active) or SYN_RECV (passive) time; 0 = unknown.
    public var startTs: UInt64
    /// CONNECT/ACCEPT: the system call's return value.
    public var result: Int32
    public var bytesAcked: UInt64
    public var bytesReceived: UInt64
    public var retransmits: UInt32
    /// CLOSE: the TCP state left for CLOSE.
    public var oldState: UInt32
    public init(task: TaskRow, kind: TcpEventKind, flags: SocketFlags, sockNetns: UInt32, tuple: SocketTuple,
                cookie: UInt64, sk: UInt64, startTs: UInt64, result: Int32, bytesAcked: UInt64,
                bytesReceived: UInt64, retransmits: UInt32, oldState: UInt32) {
        self.task = task; self.kind = kind; self.flags = flags; self.sockNetns = sockNetns; self.tuple = tuple
        self.cookie = cookie; self.sk = sk; self.startTs = startTs; self.result = result
        self.bytesAcked = bytesAcked; self.bytesReceived = bytesReceived; self.retransmits = retransmits
        self.oldState = oldState
    }

    public static let selectColumns = "\(TaskRow.columnNames), kind, flags, sock_netns, \(SocketTuple.columnNames), cookie, sk, start_ts, result, bytes_acked, bytes_received, retransmits, old_state"
    public static func read(_ st: Statement) -> TcpEventRow {
        TcpEventRow(task: TaskRow.read(st, at: 0), kind: TcpEventKind(rawValue: st.int(14)) ?? .close,
                    flags: SocketFlags(rawValue: st.int(15)), sockNetns: st.uint32(16),
                    tuple: SocketTuple.read(st, at: 17), cookie: st.uint64(22), sk: st.uint64(23),
                    startTs: st.uint64(24), result: Int32(truncatingIfNeeded: st.int64(25)),
                    bytesAcked: st.uint64(26), bytesReceived: st.uint64(27),
                    retransmits: st.uint32(28), oldState: st.uint32(29))
    }
}

public struct UdpFlowRow: Sendable {
    public var task: TaskRow
    public var flags: SocketFlags
    public var sockNetns: UInt32
    public var tuple: SocketTuple
    public var cookie: UInt64
    /// Payload of the first datagram.
    public var bytes: UInt32
    public init(task: TaskRow, flags: SocketFlags, sockNetns: UInt32, tuple: SocketTuple, cookie: UInt64, bytes: UInt32) {
        self.task = task; self.flags = flags; self.sockNetns = sockNetns; self.tuple = tuple
        self.cookie = cookie; self.bytes = bytes
    }
    public static let selectColumns = "\(TaskRow.columnNames), flags, sock_netns, \(SocketTuple.columnNames), cookie, bytes"
    public static func read(_ st: Statement) -> UdpFlowRow {
        UdpFlowRow(task: TaskRow.read(st, at: 0), flags: SocketFlags(rawValue: st.int(14)),
                   sockNetns: st.uint32(15), tuple: SocketTuple.read(st, at: 16),
                   cookie: st.uint64(21), bytes: st.uint32(22))
    }
}

public enum UdpFlowEndReason: Int, Sendable, CustomStringConvertible {
    /// No datagram for the idle timeout.
    case idle = 1
    /// Still active when the recording stopped.
    case recordingEnd = 2
    /// The kernel's flow table was full and dropped the entry: the flow's last datagram was
    /// at some time before this row's ts, and its counters are lost.
    case evicted = 3
    public var description: String {
        switch self {
        case .idle: "idle"
        case .recordingEnd: "recording_end"
        case .evicted: "evicted"
        }
    }
}

/// Written by the recorder when it retires a flow from the kernel's flow map.
public struct UdpFlowEndRow: Sendable {
    public var ts: UInt64
    public var reason: UdpFlowEndReason
    public var sockNetns: UInt32
    public var tuple: SocketTuple
    public var pid: UInt32
    public var startNs: UInt64
    public var firstTs: UInt64
    public var lastTs: UInt64
    public var txBytes: UInt64
    public var rxBytes: UInt64
    public var txPackets: UInt64
    public var rxPackets: UInt64
    public init(ts: UInt64, reason: UdpFlowEndReason, sockNetns: UInt32, tuple: SocketTuple, pid: UInt32,
                startNs: UInt64, firstTs: UInt64, lastTs: UInt64, txBytes: UInt64, rxBytes: UInt64,
                txPackets: UInt64, rxPackets: UInt64) {
        self.ts = ts; self.reason = reason; self.sockNetns = sockNetns; self.tuple = tuple; self.pid = pid
        self.startNs = startNs; self.firstTs = firstTs; self.lastTs = lastTs; self.txBytes = txBytes
        self.rxBytes = rxBytes; self.txPackets = txPackets; self.rxPackets = rxPackets
    }
    public static let selectColumns = "ts, reason, sock_netns, \(SocketTuple.columnNames), pid, start_ns, first_ts, last_ts, tx_bytes, rx_bytes, tx_packets, rx_packets"
    public static func read(_ st: Statement) -> UdpFlowEndRow {
        UdpFlowEndRow(ts: st.uint64(0), reason: UdpFlowEndReason(rawValue: st.int(1)) ?? .idle,
                      sockNetns: st.uint32(2), tuple: SocketTuple.read(st, at: 3),
                      pid: st.uint32(8), startNs: st.uint64(9), firstTs: st.uint64(10), lastTs: st.uint64(11),
                      txBytes: st.uint64(12), rxBytes: st.uint64(13), txPackets: st.uint64(14), rxPackets: st.uint64(15))
    }
}

/// A row's task columns for the recorder's ring path: plain integers and the comm bound
/// in place (no String, nothing reference-counted).
public struct BorrowedTask {
    public var ts: UInt64, pid: UInt32, tid: UInt32, startNs: UInt64, ppid: UInt32, parentStartNs: UInt64
    public var uid: UInt32, gid: UInt32, cgroupID: UInt64, cgroupV1ID: UInt64
    public var mntns: UInt32, netns: UInt32, pidns: UInt32
    public var comm: BorrowedText
    @inline(__always)
    public init(ts: UInt64, pid: UInt32, tid: UInt32, startNs: UInt64, ppid: UInt32, parentStartNs: UInt64,
                uid: UInt32, gid: UInt32, cgroupID: UInt64, cgroupV1ID: UInt64,
                mntns: UInt32, netns: UInt32, pidns: UInt32, comm: BorrowedText) {
        self.ts = ts; self.pid = pid; self.tid = tid; self.startNs = startNs; self.ppid = ppid
        self.parentStartNs = parentStartNs; self.uid = uid; self.gid = gid; self.cgroupID = cgroupID
        self.cgroupV1ID = cgroupV1ID; self.mntns = mntns; self.netns = netns; self.pidns = pidns; self.comm = comm
    }

    /// The same parameters as TaskRow.bind.
    @inline(__always) func bind(_ st: Statement) {
        st.bind(1, ts); st.bind(2, pid); st.bind(3, tid); st.bind(4, startNs); st.bind(5, ppid)
        st.bind(6, parentStartNs); st.bind(7, uid); st.bind(8, gid); st.bind(9, cgroupID)
        st.bind(10, cgroupV1ID); st.bind(11, mntns); st.bind(12, netns); st.bind(13, pidns)
        st.bind(14, staticText: comm.base, count: comm.count)
    }
}

/// A SocketTuple whose address text is bound in place (see BorrowedText).
public struct BorrowedTuple {
    public var family: UInt16, laddr: BorrowedText, lport: UInt16, raddr: BorrowedText, rport: UInt16
    @inline(__always)
    public init(family: UInt16, laddr: BorrowedText, lport: UInt16, raddr: BorrowedText, rport: UInt16) {
        self.family = family; self.laddr = laddr; self.lport = lport; self.raddr = raddr; self.rport = rport
    }

    /// The same parameters as SocketTuple.bind.
    @inline(__always) func bind(_ st: Statement, at i: Int32) {
        st.bind(i, Int(family)); st.bind(i + 1, staticText: laddr.base, count: laddr.count); st.bind(i + 2, Int(lport))
        st.bind(i + 3, staticText: raddr.base, count: raddr.count); st.bind(i + 4, Int(rport))
    }
}

extension TimelineWriter {
    /// The one prepared tcp_event insert, shared by both entry points below.
    @inline(__always) private func tcpEventStatement() throws -> Statement {
        try statement("""
            INSERT INTO tcp_event (\(TaskRow.columnNames), kind, flags, sock_netns, \(SocketTuple.columnNames),
                cookie, sk, start_ts, result, bytes_acked, bytes_received, retransmits, old_state)
            VALUES (\(Self.marks(30)))
            """)
    }

    /// The one prepared udp_flow insert, shared by both entry points below.
    @inline(__always) private func udpFlowStatement() throws -> Statement {
        try statement("""
            INSERT INTO udp_flow (\(TaskRow.columnNames), flags, sock_netns, \(SocketTuple.columnNames), cookie, bytes)
            VALUES (\(Self.marks(23)))
            """)
    }

    public func tcpEvent(_ e: TcpEventRow) throws {
        let st = try tcpEventStatement()
        e.task.bind(st)
        st.bind(15, e.kind.rawValue); st.bind(16, e.flags.rawValue); st.bind(17, e.sockNetns)
        e.tuple.bind(st, at: 18)
        st.bind(23, e.cookie); st.bind(24, e.sk); st.bind(25, e.startTs); st.bind(26, Int(e.result))
        st.bind(27, e.bytesAcked); st.bind(28, e.bytesReceived); st.bind(29, e.retransmits); st.bind(30, e.oldState)
        try insert(st)
    }

    /// The same row as `tcpEvent(_:)` without building a TcpEventRow: the recorder's ring path,
    /// where the text (comm, addresses) is borrowed for the duration of the insert.
    @inline(__always)
    public func tcpEvent(task: BorrowedTask, kind: TcpEventKind, flags: Int, sockNetns: UInt32, tuple: BorrowedTuple,
                         cookie: UInt64, sk: UInt64, startTs: UInt64, result: Int32, bytesAcked: UInt64,
                         bytesReceived: UInt64, retransmits: UInt32, oldState: UInt32) throws {
        let st = try tcpEventStatement()
        task.bind(st)
        st.bind(15, kind.rawValue); st.bind(16, flags); st.bind(17, sockNetns)
        tuple.bind(st, at: 18)
        st.bind(23, cookie); st.bind(24, sk); st.bind(25, startTs); st.bind(26, Int(result))
        st.bind(27, bytesAcked); st.bind(28, bytesReceived); st.bind(29, retransmits); st.bind(30, oldState)
        try insert(st)
    }

    public func udpFlow(_ e: UdpFlowRow) throws {
        let st = try udpFlowStatement()
        e.task.bind(st)
        st.bind(15, e.flags.rawValue); st.bind(16, e.sockNetns)
        e.tuple.bind(st, at: 17)
        st.bind(22, e.cookie); st.bind(23, e.bytes)
        try insert(st)
    }

    /// The same row as `udpFlow(_:)` without building a UdpFlowRow (see `tcpEvent(task:...)`).
    @inline(__always)
    public func udpFlow(task: BorrowedTask, flags: Int, sockNetns: UInt32, tuple: BorrowedTuple,
                        cookie: UInt64, bytes: UInt32) throws {
        let st = try udpFlowStatement()
        task.bind(st)
        st.bind(15, flags); st.bind(16, sockNetns)
        tuple.bind(st, at: 17)
        st.bind(22, cookie); st.bind(23, bytes)
        try insert(st)
    }

    public func udpFlowEnd(_ e: UdpFlowEndRow) throws {
        let st = try statement("""
            INSERT INTO udp_flow_end (\(UdpFlowEndRow.selectColumns)) VALUES (\(Self.marks(16)))
            """)
        st.bind(1, e.ts); st.bind(2, e.reason.rawValue); st.bind(3, e.sockNetns)
        e.tuple.bind(st, at: 4)
        st.bind(9, e.pid); st.bind(10, e.startNs); st.bind(11, e.firstTs); st.bind(12, e.lastTs)
        st.bind(13, e.txBytes); st.bind(14, e.rxBytes); st.bind(15, e.txPackets); st.bind(16, e.rxPackets)
        try insert(st)
    }
}

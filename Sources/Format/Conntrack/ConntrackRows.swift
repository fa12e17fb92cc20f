import Foundation

/// What a `conntrack` row says happened.
public enum ConntrackEventKind: Int, Sendable {
    /// The entry was seen new at a hook (or re-opened by a SYN, or listed by the startup dump).
    case new = 1
    /// The entry was seen ending (TCP reaching TIME_WAIT/CLOSE, or a Netlink DESTROY).
    case end = 2
}

/// Row flags (bpf/nettrail.h NT_CT_F_*).
public struct ConntrackFlags: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// A confirmed TCP entry re-opened in place by a new SYN (no new conntrack entry, a new mapping interval).
    public static let reopen = ConntrackFlags(rawValue: 1 << 0)
    /// Listed by the startup dump: it existed at `ts`, since when is unknown.
    public static let snapshot = ConntrackFlags(rawValue: 1 << 1)
    /// Came from Netlink events (the fallback source), not from a hook.
    public static let netlink = ConntrackFlags(rawValue: 1 << 2)
    /// END: the packet that ended the connection carried RST.
    public static let rst = ConntrackFlags(rawValue: 1 << 3)
}

/// One endpoint pair of a conntrack tuple. Addresses in canonical text form
/// (inet_ntop), ports in host order; for ICMP `sport` is the id and `dport`
/// type << 8 | code.
public struct ConntrackTuple: Sendable, Hashable {
    public var src: String
    public var sport: UInt16
    public var dst: String
    public var dport: UInt16
    public init(src: String, sport: UInt16, dst: String, dport: UInt16) {
        self.src = src; self.sport = sport; self.dst = dst; self.dport = dport
    }
    /// The tuple of the other direction, as an untranslated flow would have it.
    public var inverted: ConntrackTuple { ConntrackTuple(src: dst, sport: dport, dst: src, dport: sport) }
}

/// A conntrack event as recorded: raw kernel facts.
public struct ConntrackRow: Sendable, Equatable {
    public var ts: UInt64
    public var kind: ConntrackEventKind
    public var flags: ConntrackFlags
    /// For END, the `ts` of the NEW it closes (0 when unknown, e.g. Netlink DESTROY).
    public var startTs: UInt64
    public var netns: UInt32
    /// 4 or 6.
    public var family: UInt8
    /// IPPROTO_*.
    public var proto: UInt8
    public var orig: ConntrackTuple
    public var reply: ConntrackTuple
    /// IPS_* status bits.
    public var status: UInt32
    public var zone: UInt16
    public var mark: UInt32
    /// NF_INET_* hook the event was seen at; 255 when not seen at a hook (dump, Netlink).
    public var hook: UInt8
    /// TCP_CONNTRACK_* after the packet; 0 when not TCP.
    public var tcpState: UInt8
    /// cgroup v2 id of the local socket's owner, 0 when the packet carried none.
    public var cgroupID: UInt64

    public init(ts: UInt64, kind: ConntrackEventKind, flags: ConntrackFlags, startTs: UInt64, netns: UInt32,
                family: UInt8, proto: UInt8, orig: ConntrackTuple, reply: ConntrackTuple, status: UInt32,
                zone: UInt16, mark: UInt32, hook: UInt8, tcpState: UInt8, cgroupID: UInt64) {
        self.ts = ts; self.kind = kind; self.flags = flags; self.startTs = startTs; self.netns = netns
        self.family = family; self.proto = proto; self.orig = orig; self.reply = reply; self.status = status
        self.zone = zone; self.mark = mark; self.hook = hook; self.tcpState = tcpState; self.cgroupID = cgroupID
    }

    static let columns = """
        ts, kind, flags, start_ts, netns, family, proto, orig_src, orig_sport, orig_dst, orig_dport,
        reply_src, reply_sport, reply_dst, reply_dport, status, zone, mark, hook, tcp_state, cgroup_id
        """

    /// Reads the 21 columns in `columns` order, starting at `at`.
    public static func read(_ st: Statement, at i: Int32 = 0) -> ConntrackRow {
        ConntrackRow(
            ts: st.uint64(i), kind: ConntrackEventKind(rawValue: st.int(i + 1)) ?? .new,
            flags: ConntrackFlags(rawValue: st.int(i + 2)), startTs: st.uint64(i + 3),
            netns: st.uint32(i + 4), family: st.uint8(i + 5),
            proto: st.uint8(i + 6),
            orig: ConntrackTuple(src: st.string(i + 7) ?? "", sport: st.uint16(i + 8),
                                 dst: st.string(i + 9) ?? "", dport: st.uint16(i + 10)),
            reply: ConntrackTuple(src: st.string(i + 11) ?? "", sport: st.uint16(i + 12),
                                  dst: st.string(i + 13) ?? "", dport: st.uint16(i + 14)),
            status: st.uint32(i + 15), zone: st.uint16(i + 16),
            mark: st.uint32(i + 17), hook: st.uint8(i + 18),
            tcpState: st.uint8(i + 19), cgroupID: st.uint64(i + 20))
    }

    public static let selectAll = "SELECT \(columns) FROM conntrack"
}

extension TimelineWriter {
    /// The one prepared conntrack insert, shared by both entry points below.
    @inline(__always) private func conntrackStatement() throws -> Statement {
        try statement("INSERT INTO conntrack (\(ConntrackRow.columns)) VALUES (\(Self.marks(21)))")
    }

    public func conntrack(_ r: ConntrackRow) throws {
        let st = try conntrackStatement()
        st.bind(1, r.ts); st.bind(2, r.kind.rawValue); st.bind(3, r.flags.rawValue); st.bind(4, r.startTs)
        st.bind(5, r.netns); st.bind(6, Int(r.family)); st.bind(7, Int(r.proto))
        st.bind(8, r.orig.src); st.bind(9, Int(r.orig.sport)); st.bind(10, r.orig.dst); st.bind(11, Int(r.orig.dport))
        st.bind(12, r.reply.src); st.bind(13, Int(r.reply.sport)); st.bind(14, r.reply.dst); st.bind(15, Int(r.reply.dport))
        st.bind(16, r.status); st.bind(17, Int(r.zone)); st.bind(18, r.mark); st.bind(19, Int(r.hook))
        st.bind(20, Int(r.tcpState)); st.bind(21, r.cgroupID)
        try insert(st)
    }

    /// The same row as `conntrack(_:)` without building a ConntrackRow: the recorder's ring
    /// path, where the address text comes from its own cache (no String per row).
    @inline(__always)
    public func conntrack(ts: UInt64, kind: ConntrackEventKind, flags: ConntrackFlags, startTs: UInt64, netns: UInt32,
                          family: UInt8, proto: UInt8,
                          origSrc: BorrowedText, origSport: UInt16, origDst: BorrowedText, origDport: UInt16,
                          replySrc: BorrowedText, replySport: UInt16, replyDst: BorrowedText, replyDport: UInt16,
                          status: UInt32, zone: UInt16, mark: UInt32, hook: UInt8, tcpState: UInt8,
                          cgroupID: UInt64) throws {
        let st = try conntrackStatement()
        st.bind(1, ts); st.bind(2, kind.rawValue); st.bind(3, flags.rawValue); st.bind(4, startTs)
        st.bind(5, netns); st.bind(6, Int(family)); st.bind(7, Int(proto))
        st.bind(8, staticText: origSrc.base, count: origSrc.count); st.bind(9, Int(origSport))
        st.bind(10, staticText: origDst.base, count: origDst.count); st.bind(11, Int(origDport))
        st.bind(12, staticText: replySrc.base, count: replySrc.count); st.bind(13, Int(replySport))
        st.bind(14, staticText: replyDst.base, count: replyDst.count); st.bind(15, Int(replyDport))
        st.bind(16, status); st.bind(17, Int(zone)); st.bind(18, mark); st.bind(19, Int(hook))
        st.bind(20, Int(tcpState)); st.bind(21, cgroupID)
        try insert(st)
    }
}

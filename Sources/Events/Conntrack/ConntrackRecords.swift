import CEventABI
import Format

/// The conntrack object's records (bpf/conntrack.bpf.c) as timeline rows; also the
/// row of an entry libnetfilter_conntrack reports in the same struct (dump, Netlink).
public enum ConntrackRecords {
    @inline(__always)
    public static func isEvent(_ kind: UInt32) -> Bool {
        kind == NT_KIND_CT_NEW.rawValue || kind == NT_KIND_CT_END.rawValue
    }

    public static var decoder: RecordDecoder {
        let text = AddressText()
        return RecordDecoder(for: .conntrack) { data, size, _, w in
            try write(data, size: size, into: w, text: text)
        }
    }

    /// The ring path: the same row as `row(_:)` gives, bound without building Strings.
    public static func write(_ data: UnsafeRawPointer, size: Int, into w: TimelineWriter, text: AddressText) throws {
        guard size >= MemoryLayout<nt_ct_event>.size else { throw DecodeError.short(data.load(fromByteOffset: 8, as: UInt32.self), size) }
        var e = data.load(as: nt_ct_event.self)
        let os = withUnsafeBytes(of: &e.orig.src) { text.text($0.baseAddress!, family: e.orig.l3, slot: 0) }
        let od = withUnsafeBytes(of: &e.orig.dst) { text.text($0.baseAddress!, family: e.orig.l3, slot: 1) }
        let rs = withUnsafeBytes(of: &e.reply.src) { text.text($0.baseAddress!, family: e.reply.l3, slot: 2) }
        let rd = withUnsafeBytes(of: &e.reply.dst) { text.text($0.baseAddress!, family: e.reply.l3, slot: 3) }
        try w.conntrack(
            ts: e.ts, kind: e.kind == NT_KIND_CT_END.rawValue ? .end : .new,
            flags: ConntrackFlags(rawValue: Int(e.flags)), startTs: e.start_ts, netns: e.netns,
            family: e.orig.l3 == 10 ? 6 : 4, proto: e.orig.l4,
            origSrc: os, origSport: e.orig.sport, origDst: od, origDport: e.orig.dport,
            replySrc: rs, replySport: e.reply.sport, replyDst: rd, replyDport: e.reply.dport,
            status: e.status, zone: e.zone, mark: e.mark, hook: e.hook, tcpState: e.tcp_state,
            cgroupID: e.cgroup_id)
    }

    public static func row(_ p: UnsafePointer<nt_ct_event>) -> ConntrackRow { row(p, tuple: tuple) }

    /// As `row(_:)`, the addresses' text from `addresses` (one thread's cache).
    public static func row(_ p: UnsafePointer<nt_ct_event>, addresses: AddressStrings) -> ConntrackRow {
        row(p) { tuple($0, addresses) }
    }

    @inline(__always)
    private static func row(_ p: UnsafePointer<nt_ct_event>, tuple: (nt_ct_tuple) -> ConntrackTuple) -> ConntrackRow {
        let e = p.pointee
        let family: UInt8 = e.orig.l3 == 10 ? 6 : 4
        return ConntrackRow(
            ts: e.ts, kind: e.kind == NT_KIND_CT_END.rawValue ? .end : .new,
            flags: ConntrackFlags(rawValue: Int(e.flags)), startTs: e.start_ts, netns: e.netns,
            family: family, proto: e.orig.l4, orig: tuple(e.orig), reply: tuple(e.reply),
            status: e.status, zone: e.zone, mark: e.mark, hook: e.hook, tcpState: e.tcp_state,
            cgroupID: e.cgroup_id)
    }

    private static func tuple(_ t: nt_ct_tuple, _ addresses: AddressStrings) -> ConntrackTuple {
        var t = t
        let src = withUnsafeBytes(of: &t.src) { addresses.text($0.baseAddress!, family: UInt16(t.l3)) }
        let dst = withUnsafeBytes(of: &t.dst) { addresses.text($0.baseAddress!, family: UInt16(t.l3)) }
        return ConntrackTuple(src: src, sport: t.sport, dst: dst, dport: t.dport)
    }

    public static func tuple(_ t: nt_ct_tuple) -> ConntrackTuple {
        ConntrackTuple(src: cachedAddress(t.src, family: t.l3), sport: t.sport,
                       dst: cachedAddress(t.dst, family: t.l3), dport: t.dport)
    }

    private struct AddressKey: Hashable { var hi: UInt64; var lo: UInt64; var family: UInt8 }
    /// Text of recently seen addresses: a churn repeats a handful of them, and formatting
    /// each anew was a visible share of the recorder's CPU. Only the thread uses it.
    nonisolated(unsafe) private static var addressCache: [AddressKey: String] = [:]

    public static func cachedAddress<T>(_ bytes: T, family: UInt8) -> String {
        let key = withUnsafeBytes(of: bytes) { raw in
            AddressKey(hi: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                       lo: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self), family: family)
        }
        if let s = addressCache[key] { return s }
        let s = address(bytes, family: family)
        if addressCache.count >= 4096 { addressCache.removeAll(keepingCapacity: true) }
        addressCache[key] = s
        return s
    }

    public static func address<T>(_ bytes: T, family: UInt8) -> String {
        withUnsafeBytes(of: bytes) { SocketTuple.address(family: UInt16(family), $0.baseAddress!) }
    }
}

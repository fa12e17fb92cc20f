/// Rows as the recorder writes them: raw kernel facts, nothing reconstructed.
public struct TaskRow: Sendable, Equatable {
    public var ts: UInt64
    public var pid: UInt32
    public var tid: UInt32
    public var startNs: UInt64
    public var ppid: UInt32
    public var parentStartNs: UInt64
    public var uid: UInt32
    public var gid: UInt32
    public var cgroupID: UInt64
    public var cgroupV1ID: UInt64
    public var mntns: UInt32
    public var netns: UInt32
    public var pidns: UInt32
    public var comm: String

    public init(ts: UInt64, pid: UInt32, tid: UInt32, startNs: UInt64, ppid: UInt32, parentStartNs: UInt64,
                uid: UInt32, gid: UInt32, cgroupID: UInt64, cgroupV1ID: UInt64,
                mntns: UInt32, netns: UInt32, pidns: UInt32, comm: String) {
        self.ts = ts; self.pid = pid; self.tid = tid; self.startNs = startNs; self.ppid = ppid
        self.parentStartNs = parentStartNs; self.uid = uid; self.gid = gid; self.cgroupID = cgroupID
        self.cgroupV1ID = cgroupV1ID; self.mntns = mntns; self.netns = netns; self.pidns = pidns; self.comm = comm
    }

    static let columnNames = "ts, pid, tid, start_ns, ppid, parent_start_ns, uid, gid, cgroup_id, cgroup_v1_id, mntns, netns, pidns, comm"
    static let columnCount: Int32 = 14

    @inline(__always) func bind(_ st: Statement) {
        st.bind(1, ts); st.bind(2, pid); st.bind(3, tid); st.bind(4, startNs); st.bind(5, ppid)
        st.bind(6, parentStartNs); st.bind(7, uid); st.bind(8, gid); st.bind(9, cgroupID)
        st.bind(10, cgroupV1ID); st.bind(11, mntns); st.bind(12, netns); st.bind(13, pidns); st.bind(14, comm)
    }

    /// Reads the 14 task columns starting at `at`.
    public static func read(_ st: Statement, at i: Int32 = 0) -> TaskRow {
        TaskRow(ts: st.uint64(i), pid: st.uint32(i + 1), tid: st.uint32(i + 2),
                startNs: st.uint64(i + 3), ppid: st.uint32(i + 4), parentStartNs: st.uint64(i + 5),
                uid: st.uint32(i + 6), gid: st.uint32(i + 7), cgroupID: st.uint64(i + 8),
                cgroupV1ID: st.uint64(i + 9), mntns: st.uint32(i + 10), netns: st.uint32(i + 11),
                pidns: st.uint32(i + 12), comm: st.string(i + 13) ?? "")
    }
}

public struct LossRow: Sendable, Equatable {
    public var source: String
    public var kind: String
    public var count: UInt64
    public var fromNs: UInt64
    public var toNs: UInt64
    public init(source: String, kind: String, count: UInt64, fromNs: UInt64, toNs: UInt64) {
        self.source = source; self.kind = kind; self.count = count; self.fromNs = fromNs; self.toNs = toNs
    }
}

// nettrail-bench: measurements that print ratios against a baseline run in
// the same process, because these machines are noisy.
//
//   nettrail-bench ingest [ROWS]      timeline insert rate vs raw SQLite, bytes per event
//   nettrail-bench exec-burst [N]     share of an exec burst captured, and its cost
import Analyzer
import CSQLite
import Format
import Foundation
import Recorder

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

func fileSize(_ p: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: p))?[.size] as? NSNumber)?.intValue ?? 0
}

/// Rows shaped like real exec events: the same columns the recorder writes.
func ingest(rows: Int) throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-bench").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let argv = Array("/usr/bin/curl\0-sS\0--max-time\05\0http://10.0.0.1:8080/health".utf8)

    // Baseline: the bare sqlite3 API, one prepared statement, same PRAGMAs and batch size.
    let basePath = dir + "/baseline.db"
    for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: basePath + s) }
    let db = try Database(path: basePath, mode: .create)
    try db.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL")
    try db.execute("""
        CREATE TABLE e (ts INTEGER, pid INTEGER, tid INTEGER, start_ns INTEGER, ppid INTEGER, parent_start_ns INTEGER,
        uid INTEGER, gid INTEGER, cgroup_id INTEGER, cgroup_v1_id INTEGER, mntns INTEGER, netns INTEGER, pidns INTEGER,
        comm TEXT, old_pid INTEGER, flags INTEGER, filename TEXT, argv BLOB)
        """)
    let st = try db.prepare("INSERT INTO e VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
    var t0 = now()
    try db.execute("BEGIN")
    for i in 0..<rows {
        let v = UInt64(i)
        st.bind(1, v); st.bind(2, Int(i % 32768)); st.bind(3, Int(i % 32768)); st.bind(4, v); st.bind(5, 1)
        st.bind(6, 10); st.bind(7, 0); st.bind(8, 0); st.bind(9, 7); st.bind(10, 8); st.bind(11, 4026531840)
        st.bind(12, 4026531841); st.bind(13, 4026531836); st.bind(14, "curl"); st.bind(15, Int(i % 32768))
        st.bind(16, 0); st.bind(17, "/usr/bin/curl"); st.bind(18, blob: argv)
        try st.run()
        if i % 10_000 == 9_999 { try db.execute("COMMIT; BEGIN") }
    }
    try db.execute("COMMIT")
    let base = Double(rows) / (now() - t0)

    // nettrail's writer, as the recorder drives it.
    let path = dir + "/timeline.db"
    let w = try TimelineWriter(path: path, force: true)
    t0 = now()
    try argv.withUnsafeBytes { a in
        for i in 0..<rows {
            let pid = UInt32(i % 32768)
            let t = TaskRow(ts: UInt64(i), pid: pid, tid: pid, startNs: UInt64(i), ppid: 1, parentStartNs: 10,
                            uid: 0, gid: 0, cgroupID: 7, cgroupV1ID: 8, mntns: 4026531840, netns: 4026531841,
                            pidns: 4026531836, comm: "curl")
            try w.exec(t, oldPid: pid, flags: 0, filename: "/usr/bin/curl", argv: a)
            if i % 10_000 == 9_999 { try w.commit() }
        }
    }
    try w.commit()
    let ours = Double(rows) / (now() - t0)
    try w.close()
    print(String(format: "ingest: %d exec rows; baseline raw sqlite %.0f rows/s; nettrail writer %.0f rows/s; ratio %.2f",
                 rows, base, ours, ours / base))
    print(String(format: "ingest: %.1f bytes on disk per exec event (closed, indexed capture)",
                 Double(fileSize(path)) / Double(rows)))
}

/// Runs `n` /bin/true from two parallel forkers; returns seconds and the pids they logged.
func burst(_ n: Int, log: String) throws -> (Double, [UInt32]) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/bash")
    p.arguments = ["-c", """
        b() { for i in $(seq \(n / 2)); do /bin/true & echo $! >> "$1"; (( i % 200 == 0 )) && wait; done; wait; }
        rm -f \(log).a \(log).b; b \(log).a & b \(log).b & wait; cat \(log).a \(log).b > \(log)
        """]
    let t0 = now()
    try p.run()
    p.waitUntilExit()
    let secs = now() - t0
    let pids = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").compactMap { UInt32($0) }
    return (secs, pids)
}

func execBurst(n: Int) throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-bench").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let (baseSecs, _) = try burst(n, log: dir + "/pids.base")

    var options = RecordOptions(dbPath: dir + "/burst.db")
    options.force = true
    let recorder = try Recorder(options: options)
    let ready = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var summary: RecordSummary?
    Thread {
        summary = try? recorder.run { ready.signal() }
        done.signal()
    }.start()
    ready.wait()
    let (watchedSecs, pids) = try burst(n, log: dir + "/pids.watched")
    recorder.stop()
    done.wait()
    let capture = try Capture(path: options.dbPath)
    try capture.load()
    let captured = pids.filter { pid in
        capture.processes.byPid[pid]?.contains { capture.processes[$0]?.execs.contains { $0.filename == "/bin/true" } ?? false } ?? false
    }.count
    print(String(format: "exec-burst: %d execs; unwatched %.0f execs/s; recorded %.0f execs/s; ratio %.3f",
                 n, Double(n) / baseSecs, Double(n) / watchedSecs, baseSecs / watchedSecs))
    print("exec-burst: captured \(captured) of \(pids.count) (\(String(format: "%.2f", 100 * Double(captured) / Double(max(pids.count, 1))))%); " +
          "losses \(summary?.losses.values.reduce(0, +) ?? 0)")
    let events = (summary?.counts.values.reduce(0, +)) ?? 0
    print(String(format: "exec-burst: capture %d bytes for %d events, %.1f bytes/event",
                 fileSize(options.dbPath), events, Double(fileSize(options.dbPath)) / Double(max(events, 1))))
}

let args = CommandLine.arguments.dropFirst()
do {
    switch args.first {
    case "ingest": try ingest(rows: args.dropFirst().first.flatMap(Int.init) ?? 200_000)
    case "exec-burst": try execBurst(n: args.dropFirst().first.flatMap(Int.init) ?? 5000)
    default:
        FileHandle.standardError.write(Data("usage: nettrail-bench ingest [ROWS] | exec-burst [N]\n".utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("nettrail-bench: \(error)\n".utf8))
    exit(1)
}

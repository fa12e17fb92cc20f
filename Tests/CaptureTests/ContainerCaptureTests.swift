import Analyzer
import Foundation
import XCTest

/// Real containers from a real runtime (runc, on a busybox rootfs), named
/// by the ID the runtime reports, including one that is gone before the query.
final class ContainerCaptureTests: XCTestCase {
    let scene = packageRoot + "/scripts/scene"

    func testRuncContainersAreAttributedEvenAfterTheyAreGone() throws {
        let tag = String(UInt32.random(in: 0..<UInt32.max), radix: 16)
        let short = "nt-short-\(tag)", long = "nt-long-\(tag)"
        try sh("\(scene)/rootfs.sh >/dev/null")
        let live = try LiveCapture()
        // A container whose only process lives about 50 ms.
        try sh("\(scene)/runc-run.sh \(short) -- /bin/sleep 0.05 2>/dev/null")
        // A detached one, whose host pid the runtime reports.
        try sh("\(scene)/runc-run.sh --detach \(long) -- /bin/sleep 0.5 >/dev/null")
        let state = try sh("runc state \(long)")
        let hostPid = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(state.utf8)) as? [String: Any])?["pid"] as? Int)
        let reported = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(state.utf8)) as? [String: Any])?["id"] as? String)
        XCTAssertEqual(reported, long)
        usleep(700_000)
        try sh("\(scene)/runc-rm.sh \(long) >/dev/null 2>&1 || true")
        let (_, capture) = try live.finish()

        // Both cgroups are gone now; the capture still names them.
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/sys/fs/cgroup/unified/nettrail/\(short)"))
        let shortRows = ProcessQuery.run(capture, ProcessFilter(container: short))
        let exe = shortRows.columns.firstIndex(of: "exe")!, rt = shortRows.columns.firstIndex(of: "runtime")!
        XCTAssertTrue(shortRows.rows.contains { $0[exe] == .text("/bin/sleep")
                          && $0[shortRows.columns.firstIndex(of: "argv")!] == .list(["/bin/sleep", "0.05"]) },
                      shortRows.render(.table))
        XCTAssertTrue(shortRows.rows.allSatisfy { $0[rt] == .text("runc") })

        let longRows = ProcessQuery.run(capture, ProcessFilter(container: long, pid: UInt32(hostPid)))
        XCTAssertEqual(longRows.rows.count, 1, longRows.render(.table))
        XCTAssertEqual(longRows.rows.first?[exe], .text("/bin/sleep"))

        // Nothing outside the containers is attributed to them.
        let procs = capture.processes.records.values
        for r in procs where r.execs.contains(where: { $0.filename == "/bin/sleep" && $0.argv.last == "0.05" }) {
            let c = r.cgroup(at: r.exitTs ?? .max).flatMap { capture.cgroups.container(v2: $0.v2, v1: $0.v1) }
            XCTAssertEqual(c?.id, short)
        }
    }

    /// A runc container started before the recording, under a cgroup path no runtime's
    /// pattern names: runc's state directory names it, for the process it already ran
    /// and for one started in it while recording.
    func testRuncContainerStartedBeforeRecordingIsNamed() throws {
        let id = "nt-before-\(String(UInt32.random(in: 0..<UInt32.max), radix: 16))"
        try sh("\(scene)/runc-run.sh --detach \(id) -- /bin/sleep 10 >/dev/null")
        defer { _ = try? sh("\(scene)/runc-rm.sh \(id) >/dev/null 2>&1 || true") }
        let state = try JSONSerialization.jsonObject(with: Data(try sh("runc state \(id)").utf8)) as? [String: Any]
        let hostPid = try XCTUnwrap(state?["pid"] as? Int)
        let live = try LiveCapture()
        try sh("runc exec \(id) /bin/echo inside >/dev/null")
        let (_, capture) = try live.finish()

        let rows = ProcessQuery.run(capture, ProcessFilter(container: id))
        let pid = rows.columns.firstIndex(of: "pid")!, argv = rows.columns.firstIndex(of: "argv")!
        let rt = rows.columns.firstIndex(of: "runtime")!
        XCTAssertTrue(rows.rows.contains { $0[pid] == .int(Int64(hostPid)) }, rows.render(.table))
        XCTAssertTrue(rows.rows.contains { $0[argv] == .list(["/bin/echo", "inside"]) }, rows.render(.table))
        XCTAssertTrue(rows.rows.allSatisfy { $0[rt] == .text("runc") }, rows.render(.table))
    }

    /// dockerd (cgroupfs driver) started by the test; the container is named by docker's own 64-hex ID,
    /// and a 12-character prefix finds it as `docker ps` would.
    func testDockerContainerIsAttributedToTheIDDockerReports() throws {
        try sh("\(scene)/docker-up.sh >/dev/null")
        let live = try LiveCapture()
        let id = try sh("docker run -d --network none --pull never nettrail-busybox:latest /bin/sleep 0.4")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(id.count, 64, id)
        let pid = try XCTUnwrap(UInt32(try sh("docker inspect -f '{{.State.Pid}}' \(id)").trimmingCharacters(in: .whitespacesAndNewlines)))
        try sh("docker wait \(id) >/dev/null; docker rm -f \(id) >/dev/null")
        let (_, capture) = try live.finish()

        let rows = ProcessQuery.run(capture, ProcessFilter(container: String(id.prefix(12))))
        let cPid = rows.columns.firstIndex(of: "pid")!, cId = rows.columns.firstIndex(of: "container")!
        let cRt = rows.columns.firstIndex(of: "runtime")!, cExe = rows.columns.firstIndex(of: "exe")!
        let mine = try XCTUnwrap(rows.rows.first { $0[cPid] == .int(Int64(pid)) }, rows.render(.table))
        XCTAssertEqual(mine[cId], .text(id))
        XCTAssertEqual(mine[cRt], .text("docker"))
        XCTAssertEqual(mine[cExe], .text("/bin/sleep"))
        XCTAssertEqual(mine[rows.columns.firstIndex(of: "argv")!], .list(["/bin/sleep", "0.4"]))
    }
}

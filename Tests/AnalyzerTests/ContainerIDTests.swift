import Foundation
import XCTest
@testable import Analyzer

final class ContainerIDTests: XCTestCase {
    // Distinct, valid 64-hex IDs.
    let a = String(repeating: "0123456789abcdef", count: 4)
    let b = String(repeating: "fedcba9876543210", count: 4)
    let uid = "1f2e3d4c-5b6a-4978-8877-665544332211"
    var uidSystemd: String { uid.replacingOccurrences(of: "-", with: "_") }

    private func check(_ path: String, _ id: String, _ runtime: ContainerRuntime, pod: String? = nil,
                       runcParents: Set<String> = [], file: StaticString = #filePath, line: UInt = #line) {
        let got = ContainerID.parse(cgroupPath: path, runcParents: runcParents)
        XCTAssertEqual(got, ContainerIdentity(id: id, runtime: runtime, podUID: pod), path, file: file, line: line)
    }

    private func none(_ path: String, runcParents: Set<String> = [], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNil(ContainerID.parse(cgroupPath: path, runcParents: runcParents), path, file: file, line: line)
    }

    // MARK: docker

    func testDockerCgroupfs() {
        check("/docker/\(a)", a, .docker)
        check("/docker/\(a)/", a, .docker)
        XCTAssertEqual(ContainerID.parse(cgroupPath: "/docker/\(a)")?.id, a)  // single-argument overload
    }

    func testDockerNestedSubCgroupTakesDockerOne() {
        check("/docker/\(a)/init.scope", a, .docker)
        check("/docker/\(a)/some/deeper/group", a, .docker)
    }

    func testDockerInDockerInnermostWins() {
        check("/docker/\(a)/docker/\(b)", b, .docker)
        check("/system.slice/docker-\(a).scope/docker/\(b)", b, .docker)
    }

    func testDockerSystemd() {
        check("/system.slice/docker-\(a).scope", a, .docker)
    }

    // MARK: containerd / kubernetes

    func testCriContainerd() {
        check("/system.slice/cri-containerd-\(a).scope", a, .containerd)
    }

    func testKubepodsCgroupfsWithQoS() {
        check("/kubepods/burstable/pod\(uid)/\(a)", a, .unknown, pod: uid)
        check("/kubepods/besteffort/pod\(uid)/\(a)", a, .unknown, pod: uid)
    }

    func testKubepodsCgroupfsGuaranteed() {
        check("/kubepods/pod\(uid)/\(a)", a, .unknown, pod: uid)
    }

    func testKubepodsCgroupfsStaticPodHashUID() {
        let hash = "0123456789abcdef0123456789abcdef"
        check("/kubepods/burstable/pod\(hash)/\(a)", a, .unknown, pod: hash)
    }

    func testKubepodsSystemdContainerd() {
        check("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uidSystemd).slice/cri-containerd-\(a).scope",
              a, .containerd, pod: uid)
        check("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(uidSystemd).slice/cri-containerd-\(a).scope",
              a, .containerd, pod: uid)
    }

    func testKubepodsSystemdGuaranteed() {
        check("/kubepods.slice/kubepods-pod\(uidSystemd).slice/cri-containerd-\(a).scope", a, .containerd, pod: uid)
    }

    func testKubepodsSystemdShortUIDFromBrief() {
        check("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice/cri-containerd-\(a).scope",
              a, .containerd, pod: "1234-5678")
    }

    func testKubepodsDockerScope() {
        check("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uidSystemd).slice/docker-\(a).scope",
              a, .docker, pod: uid)
    }

    func testKubepodsCrio() {
        check("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uidSystemd).slice/crio-\(a).scope",
              a, .crio, pod: uid)
        check("/kubepods/burstable/pod\(uid)/crio-\(a)", a, .crio, pod: uid)
    }

    func testNoPodUIDOutsideKubepods() {
        check("/pod\(uid)/docker-\(a).scope", a, .docker)
    }

    // MARK: cri-o

    func testCrio() {
        check("/system.slice/crio-\(a).scope", a, .crio)
    }

    func testCrioConmonIsNotAContainer() {
        none("/system.slice/crio-conmon-\(a).scope")
        none("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uidSystemd).slice/crio-conmon-\(a).scope")
    }

    // MARK: podman

    func testPodmanSystemd() {
        check("/machine.slice/libpod-\(a).scope", a, .podman)
    }

    func testPodmanContainerSubCgroup() {
        check("/machine.slice/libpod-\(a).scope/container", a, .podman)
    }

    func testPodmanCgroupfs() {
        check("/libpod_parent/libpod-\(a)", a, .podman)
    }

    func testPodmanRootless() {
        check("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-\(a).scope", a, .podman)
        check("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-\(a).scope/container", a, .podman)
    }

    func testPodmanConmonIsNotAContainer() {
        none("/machine.slice/libpod-conmon-\(a).scope")
        none("/libpod_parent/libpod-conmon-\(a)")
        none("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-conmon-\(a).scope")
    }

    // MARK: ECS

    func testECS() {
        let task = "0123456789abcdef0123456789abcdef"
        let cid = "fedcba9876543210fedcba9876543210-1234567890"
        check("/ecs/\(task)/\(cid)", cid, .ecs)
    }

    func testECSMalformed() {
        let task = "0123456789abcdef0123456789abcdef"
        none("/ecs/\(task)/fedcba9876543210fedcba9876543210-")
        none("/ecs/\(task)/fedcba9876543210fedcba9876543210-12a")
        none("/ecs/\(task)/fedcba9876543210fedcba987654321-123")       // 31 hex
        none("/ecs/\(task)/FEDCBA9876543210FEDCBA9876543210-123")      // uppercase
        none("/ecs/not-a-task/fedcba9876543210fedcba9876543210-123")
        none("/notecs/\(task)/fedcba9876543210fedcba9876543210-123")
        none("/ecs/\(task)")
    }

    // MARK: runc plain names

    func testRuncConfiguredParent() {
        check("/nettrail/web-1", "web-1", .runc, runcParents: ["/nettrail"])
        check("/nettrail/web-1", "web-1", .runc, runcParents: ["/nettrail/"])
        check("/nettrail/web-1/sub", "web-1", .runc, runcParents: ["/nettrail"])
        check("/a/b/c", "c", .runc, runcParents: ["/a/b"])
    }

    func testRuncRootParentIsOptIn() {
        none("/mycontainer")
        check("/mycontainer", "mycontainer", .runc, runcParents: ["/"])
    }

    func testRuncNotConfigured() {
        none("/nettrail/web-1")
        none("/nettrail/web-1", runcParents: ["/other"])
        none("/nettrail", runcParents: ["/nettrail"])  // the parent itself
        none("/x/nettrail/web-1", runcParents: ["/nettrail"])
    }

    func testRuncConfigurationBeatsNameHeuristics() {
        check("/nettrail/docker-\(a).scope", "docker-\(a).scope", .runc, runcParents: ["/nettrail"])
    }

    func testInnermostWinsOverRunc() {
        check("/nettrail/outer/docker/\(a)", a, .docker, runcParents: ["/nettrail"])
    }

    // MARK: negatives

    func testNonContainers() {
        none("/")
        none("")
        none("/init.scope")
        none("/user.slice/user-1000.slice/session-3.scope")
        none("/user.slice/user-1000.slice/user@1000.service/app.slice/vte-spawn-\(uid).scope")
        none("/system.slice/sshd.service")
        none("/system.slice/docker.service")
        none("/system.slice/containerd.service")
        none("/docker")
    }

    func testPodLevelOnly() {
        none("/kubepods.slice/kubepods-besteffort.slice")
        none("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uidSystemd).slice")
        none("/kubepods/burstable/pod\(uid)")
        none("/kubepods")
    }

    func testWrongHexLength() {
        let short = String(a.dropLast())
        let long = a + "0"
        for id in [short, long] {
            none("/docker/\(id)")
            none("/system.slice/docker-\(id).scope")
            none("/system.slice/cri-containerd-\(id).scope")
            none("/system.slice/crio-\(id).scope")
            none("/machine.slice/libpod-\(id).scope")
            none("/kubepods/pod\(uid)/\(id)")
        }
    }

    func testUppercaseHexRejected() {
        let upper = a.uppercased()
        none("/docker/\(upper)")
        none("/system.slice/docker-\(upper).scope")
        none("/kubepods/pod\(uid)/\(upper)")
        none("/machine.slice/libpod-\(upper).scope")
    }

    func testBareHexNeedsContext() {
        none("/\(a)")
        none("/system.slice/\(a)")
        none("/pod\(uid)/\(a)")               // not under kubepods
        none("/kubepods/burstable/\(a)")      // no pod level
        none("/kubepods/podXYZ/\(a)")         // not a pod UID
    }

    // MARK: prefix matching

    func testPrefixMatching() {
        XCTAssertTrue(ContainerID.matches(a, prefix: String(a.prefix(12))))
        XCTAssertTrue(ContainerID.matches(a, prefix: String(a.prefix(20))))
        XCTAssertTrue(ContainerID.matches(a, prefix: a))
        XCTAssertFalse(ContainerID.matches(a, prefix: String(a.prefix(11))))
        XCTAssertTrue(ContainerID.matches(a, prefix: String(a.prefix(12)).uppercased()))
        XCTAssertTrue(ContainerID.matches(a, prefix: a.uppercased()))
        XCTAssertFalse(ContainerID.matches(a, prefix: String(b.prefix(12))))
        XCTAssertFalse(ContainerID.matches(a, prefix: String(a.dropFirst().prefix(12))))  // infix, not prefix
        XCTAssertFalse(ContainerID.matches(a, prefix: a + "0"))
        XCTAssertFalse(ContainerID.matches(a, prefix: ""))
    }

    func testNonHexIDsNeedFullEquality() {
        XCTAssertTrue(ContainerID.matches("web-1", prefix: "web-1"))
        XCTAssertFalse(ContainerID.matches("web-1", prefix: "web"))
        XCTAssertFalse(ContainerID.matches("nettrail-test-a", prefix: "nettrail-tes"))
        let ecs = "fedcba9876543210fedcba9876543210-1234567890"
        XCTAssertTrue(ContainerID.matches(ecs, prefix: ecs))
        XCTAssertTrue(ContainerID.matches(ecs, prefix: "fedcba987654"))
    }

    func testCodableRoundTrip() throws {
        let v = ContainerIdentity(id: a, runtime: .containerd, podUID: uid)
        let back = try JSONDecoder().decode(ContainerIdentity.self, from: JSONEncoder().encode(v))
        XCTAssertEqual(back, v)
    }
}

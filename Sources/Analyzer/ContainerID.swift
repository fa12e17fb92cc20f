// Derives container identity from a single cgroup path (one line of
// /proc/<pid>/cgroup, without the "hierarchy:controllers:" prefix).
//
// Plain string splitting on purpose: the patterns are fixed-shape segments,
// and this runs once per observed process, so no Foundation or Regex needed.

public enum ContainerRuntime: String, Sendable, Codable {
    case docker, containerd, crio, podman, runc, ecs, unknown
}

public struct ContainerIdentity: Sendable, Hashable, Codable {
    /// Full ID, never truncated: 64 lowercase hex, ECS "<32hex>-<digits>",
    /// or a runc container name.
    public var id: String
    public var runtime: ContainerRuntime
    /// Kubernetes pod UID in dashed form (the systemd driver writes '_' for '-').
    public var podUID: String?

    public init(id: String, runtime: ContainerRuntime, podUID: String? = nil) {
        self.id = id
        self.runtime = runtime
        self.podUID = podUID
    }
}

public enum ContainerID {
    /// Returns nil when the path is not a container (host, user session,
    /// conmon, vte-spawn, pod-level slice, ...).
    public static func parse(cgroupPath: String) -> ContainerIdentity? {
        parse(cgroupPath: cgroupPath, runcParents: [])
    }

    /// `runcParents` lists cgroup directories whose direct children are runc
    /// containers named by the child directory, e.g. "/nettrail" makes
    /// "/nettrail/web" the runc container "web". A plain name carries no
    /// marker, so this is opt-in: runc's own default cgroupsPath is
    /// "/<name>" at the root, but accepting "/" here would turn every
    /// top-level cgroup (e.g. "/init.scope") into a "container"; pass "/"
    /// only when the host is known to have no other top-level cgroups.
    ///
    /// When containers nest (docker-in-docker, runc inside a pod, ...) the
    /// innermost one wins; trailing non-container segments (podman's
    /// ".../libpod-<id>.scope/container", a container's own sub-cgroups) are
    /// attributed to the closest enclosing container.
    public static func parse(cgroupPath: String, runcParents: Set<String>) -> ContainerIdentity? {
        let segments = cgroupPath.split(separator: "/").map(String.init)
        let parents = Set(runcParents.map { $0.split(separator: "/").map(String.init) })
        let inKubepods = segments.contains { $0.hasPrefix("kubepods") }

        for i in segments.indices.reversed() {
            let found: (String, ContainerRuntime)?
            // Explicit configuration beats name heuristics: a runc container may
            // legitimately be called something like "docker-<hex>.scope".
            if parents.contains(Array(segments[..<i])), isRuncName(segments[i]) {
                found = (segments[i], .runc)
            } else {
                found = match(segments, at: i, inKubepods: inKubepods)
            }
            guard let (id, runtime) = found else { continue }
            let podUID = inKubepods ? segments[..<i].reversed().lazy.compactMap(podUID(from:)).first : nil
            return ContainerIdentity(id: id, runtime: runtime, podUID: podUID)
        }
        return nil
    }

    /// Docker-style short-ID matching: a hex `prefix` of at least 12 characters
    /// matches case-insensitively (users paste IDs from all sorts of tools);
    /// anything else (short strings, runc names, ECS IDs) needs full equality,
    /// because names are not unique by prefix the way random hex IDs are.
    public static func matches(_ id: String, prefix: String) -> Bool {
        if id == prefix { return true }
        let p = prefix.lowercased()
        guard p.count >= 12, isHex(p) else { return false }
        return id.lowercased().hasPrefix(p)
    }

    // MARK: - Segment patterns

    /// Runtime-prefixed scopes/directories. The ".scope" suffix is optional
    /// because the cgroupfs drivers (podman's libpod_parent, CRI-O) use the
    /// same names without it. "crio-conmon-"/"libpod-conmon-" monitor
    /// processes fail naturally: "conmon-<hex>" is not a 64-hex ID.
    private static let prefixed: [(String, ContainerRuntime)] = [
        ("docker-", .docker),
        ("cri-containerd-", .containerd),
        ("crio-", .crio),
        ("libpod-", .podman),
    ]

    private static func match(_ segments: [String], at i: Int, inKubepods: Bool) -> (String, ContainerRuntime)? {
        let seg = segments[i]
        let parent = i > 0 ? segments[i - 1] : nil

        for (prefix, runtime) in prefixed where seg.hasPrefix(prefix) {
            var rest = seg.dropFirst(prefix.count)
            if rest.hasSuffix(".scope") { rest = rest.dropLast(".scope".count) }
            if is64Hex(rest) { return (String(rest), runtime) }
        }

        if is64Hex(seg[...]) {
            if parent == "docker" { return (seg, .docker) }
            // kubelet's cgroupfs driver names the directory by bare ID whatever
            // the CRI runtime is (containerd, CRI-O via cgroupfs, cri-dockerd),
            // so the path alone cannot tell which one.
            if inKubepods, let parent, parent.hasPrefix("pod"), podUID(from: parent) != nil {
                return (seg, .unknown)
            }
        }

        // ECS (Fargate / agent-managed): /ecs/<task 32hex>/<32hex>-<digits>
        if i >= 2, segments[i - 2] == "ecs", let parent, parent.utf8.count == 32, isHex(parent),
           let dash = seg.firstIndex(of: "-") {
            let head = seg[..<dash], tail = seg[seg.index(after: dash)...]
            if head.utf8.count == 32, isHex(head), !tail.isEmpty, tail.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
                return (seg, .ecs)
            }
        }
        return nil
    }

    /// Pod UID from "pod<uid>" (cgroupfs, dashed) or
    /// "kubepods[-<qos>]-pod<uid_underscored>.slice" (systemd). Static pods use a
    /// 32-hex hash rather than a UUID, so only the alphabet is checked.
    private static func podUID(from seg: String) -> String? {
        if seg.hasPrefix("kubepods-"), seg.hasSuffix(".slice") {
            let name = seg.dropLast(".slice".count)
            guard let last = name.split(separator: "-").last, last.hasPrefix("pod") else { return nil }
            let uid = last.dropFirst(3)
            guard !uid.isEmpty, uid.utf8.allSatisfy({ isHexByte($0) || $0 == UInt8(ascii: "_") }) else { return nil }
            return String(uid.map { $0 == "_" ? "-" : $0 })
        }
        if seg.hasPrefix("pod") {
            let uid = seg.dropFirst(3)
            guard !uid.isEmpty, uid.utf8.allSatisfy({ isHexByte($0) || $0 == UInt8(ascii: "-") }) else { return nil }
            return String(uid)
        }
        return nil
    }

    /// runc's own ID rule: ^[\w+\-.]+$ (ASCII).
    private static func isRuncName(_ s: String) -> Bool {
        !s.isEmpty && s != "." && s != ".." && s.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == UInt8(ascii: "_") || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") || c == UInt8(ascii: ".")
        }
    }

    /// Runtimes emit lowercase hex; uppercase means it is not one of their IDs.
    private static func is64Hex(_ s: Substring) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy(isHexByte)
    }

    private static func isHexByte(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66)
    }

    private static func isHex<S: StringProtocol>(_ s: S) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy(isHexByte)
    }
}

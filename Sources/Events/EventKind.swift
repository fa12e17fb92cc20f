import CEventABI

/// Names of the ABI's event kinds, as the timeline's `loss.kind`, record_kind and the
/// summary spell them: each source names its own (EventSource.kinds).
public enum EventKind {
    /// Kinds no one source owns: every object may count a failed map update.
    public static let shared: [SourceKind] = [.live(NT_KIND_MAP_FULL, "map_full")]

    private static let names: [String?] = {
        var names = [String?](repeating: nil, count: Int(NT_KIND_MAX.rawValue))
        for k in shared + EventSources.all.flatMap(\.kinds) where k.kind.rawValue < NT_KIND_MAX.rawValue {
            names[Int(k.kind.rawValue)] = k.name
        }
        return names
    }()

    public static func name(_ kind: UInt32) -> String {
        (kind < NT_KIND_MAX.rawValue ? names[Int(kind)] : nil) ?? "kind\(kind)"
    }
}

import Events
import Format

/// Which recorded losses an answer depends on: each source's own list (EventSource,
/// Sources/Events/NAME/). A loss row counts for a scope when its source is the scope's and
/// its kind is one of the scope's (any kind where the list is nil), when a segment of the
/// scope's source was damaged, or when records could not be decoded.
public enum LossScope: CaseIterable, Sendable {
    case process, sockets, conntrack, resolver
    /// The process source's execs alone: what "which image did a process run" rests on.
    case image

    var source: EventSource {
        switch self {
        case .process, .image: return .process
        case .sockets: return .sockets
        case .conntrack: return .conntrack
        case .resolver: return .resolver
        }
    }

    /// The `loss.source` values of this scope.
    var sources: Set<String> { source.lossSources }

    /// The loss kinds that mean events an answer of this scope rests on are missing; nil: any.
    var kinds: Set<String>? { self == .image ? EventSource.imageLosses : source.answerLosses }

    /// How answers name the events of this scope.
    var noun: String {
        switch self {
        case .process: return "process/cgroup"
        case .sockets: return "socket"
        case .conntrack: return "conntrack"
        case .resolver: return "resolver"
        case .image: return "exec"
        }
    }

    func covers(_ l: LossRow) -> Bool {
        // Records the decoder could not read, or the recorder could not copy off a ring: of any source.
        if CaptureLoss.everySource.contains(l.source) { return true }
        guard sources.contains(l.source) else { return false }
        return l.kind == CaptureLoss.segmentDamaged || (kinds?.contains(l.kind) ?? true)
    }
}

extension Capture {
    /// The losses of `scope` whose window meets [from, to].
    public func losses(_ scope: LossScope, from: UInt64? = nil, to: UInt64? = nil) -> [LossRow] {
        ((try? reader.losses()) ?? []).filter {
            scope.covers($0) && $0.toNs >= (from ?? 0) && $0.fromNs <= (to ?? .max)
        }
    }
}

/// The note an answer carries for the losses it rests on: which events, how many, and
/// over what window (a loss is counted per interval between the recorder's samples, so
/// the window is all that is known of when).
public enum LossNote {
    /// One note for the losses of `scope` meeting [from, to], or none.
    public static func notes(_ capture: Capture, _ scope: LossScope, from: UInt64?, to: UInt64?,
                             consequence: String) -> [String] {
        text(capture, capture.losses(scope, from: from, to: to), scope: scope, consequence: consequence).map { [$0] } ?? []
    }

    /// "the recorder lost socket events (tcp_connect 12) between A and B: CONSEQUENCE".
    public static func text(_ capture: Capture, _ rows: [LossRow], scope: LossScope, consequence: String) -> String? {
        // Answers gather the losses of each row they show: one loss counts once.
        var unique: [LossRow] = []
        for r in rows where !unique.contains(r) { unique.append(r) }
        let rows = unique
        guard let from = rows.map(\.fromNs).min(), let to = rows.map(\.toNs).max() else { return nil }
        let by = Dictionary(grouping: rows, by: { scope.sources.contains($0.source) ? $0.kind : "\($0.source) \($0.kind)" })
            .map { "\($0.key) \($0.value.reduce(UInt64(0)) { $0.saturatingAdd($1.count) })" }.sorted()
        return "the recorder lost \(scope.noun) events (\(by.joined(separator: ", "))) between \(capture.wallText(from)) and \(capture.wallText(to)): \(consequence)"
    }
}

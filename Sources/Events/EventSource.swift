import CEventABI

/// One ABI kind a source's objects write (bpf/nettrail.h), its name in the timeline
/// (`loss.kind`, record_kind, the summary) and, when the record is archived in segments,
/// the struct that lays it out; kinds without a layout only the recording reads.
public struct SourceKind: Sendable {
    public let kind: nt_kind
    public let name: String
    public let layout: RecordLayout?

    /// A kind archived undecoded, as `T` lays it out.
    public static func archived<T>(_ kind: nt_kind, _ name: String, as type: T.Type, _ structName: String) -> SourceKind {
        SourceKind(kind: kind, name: name, layout: RecordLayout(kind, type, structName))
    }

    /// A kind the recording acts on and never archives.
    public static func live(_ kind: nt_kind, _ name: String) -> SourceKind {
        SourceKind(kind: kind, name: name, layout: nil)
    }
}

/// The losses of a source that answers resting on its events must note.
public enum AnswerLosses: Sendable {
    /// Every loss the source writes.
    case every
    /// Losses of these kinds (counted by the kernel, named by the kind) and these the recording counts itself.
    case only([nt_kind], recorded: [String] = [])
}

/// What one event source declares for both the recorder and the analyzer, in its own
/// folder: its kinds and their names, its loss kinds, its decoder. EventSources.all
/// lists every source; the shared code iterates it.
public struct EventSource: Sendable {
    /// The source's name in segments, record_kind and `loss.source`.
    public let name: String
    /// Other `loss.source` values the same events are recorded under (a fallback stream's).
    public let otherLossSources: [String]
    public let kinds: [SourceKind]
    /// Loss kinds the recording of this source counts itself (the kernel's are its kinds' names).
    public let recorderLosses: [String]
    public let answers: AnswerLosses
    private let makeDecoder: @Sendable () -> RecordDecoder

    public init(name: String, otherLossSources: [String] = [], kinds: [SourceKind], recorderLosses: [String] = [],
                answerLosses: AnswerLosses, decoder: @escaping @Sendable () -> RecordDecoder) {
        self.name = name
        self.otherLossSources = otherLossSources
        self.kinds = kinds
        self.recorderLosses = recorderLosses
        self.answers = answerLosses
        self.makeDecoder = decoder
    }

    /// The kinds archived in segments, as laid out.
    public var layouts: [RecordLayout] { kinds.compactMap(\.layout) }

    public var archivedKinds: Set<UInt32> { Set(layouts.map(\.kind.rawValue)) }

    /// Every `loss.source` the source's losses are written under.
    public var lossSources: Set<String> { Set([name] + otherLossSources) }

    /// Every `loss.kind` the source may write: the kernel counts a loss by the kind of the
    /// record it could not write (its own kinds, or a shared one), the recording its own.
    public var lossKinds: Set<String> { Set((kinds + EventKind.shared).map(\.name) + recorderLosses) }

    /// The `loss.kind` values meaning events an answer of this source rests on are missing; nil: any.
    public var answerLosses: Set<String>? {
        guard case .only(let kinds, let recorded) = answers else { return nil }
        return Set(kinds.map { EventKind.name($0.rawValue) } + recorded)
    }

    /// A decoder with caches of its own: one per thread.
    public func decoder() -> RecordDecoder { makeDecoder() }
}

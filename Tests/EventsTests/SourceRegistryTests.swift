import CEventABI
import Events
import Foundation
import XCTest

/// What each source declares in its own folder adds up: every ABI kind has one owner and
/// one name, every archived record is in the BTF a capture carries, and a source's answers
/// rest only on losses it can write.
final class SourceRegistryTests: XCTestCase {
    static let header = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("bpf/nettrail.h")

    func testEveryKindHasOneOwner() {
        let kinds = (EventKind.shared + EventSources.all.flatMap(\.kinds)).map(\.kind.rawValue)
        XCTAssertEqual(kinds.count, Set(kinds).count, "a kind is declared twice")
        XCTAssertEqual(Set(kinds), Set(1..<NT_KIND_MAX.rawValue), "every kind but NONE, and no other, is declared")
        let names = EventSources.all.map(\.name)
        XCTAssertEqual(names.count, Set(names).count, "two sources share a name")
    }

    /// bpf/abi.bpf.c puts in the capture's BTF the structs marked NT_RECORD: each archived one must be.
    func testEveryArchivedRecordIsInTheCapturesBTF() throws {
        let text = try String(contentsOf: Self.header, encoding: .utf8)
        for layout in EventSources.all.flatMap(\.layouts) {
            XCTAssertTrue(text.contains("\nNT_RECORD(\(layout.structName))\n"), "\(layout.structName) has no NT_RECORD mark")
        }
    }

    func testAnswersRestOnLossesTheSourceWrites() {
        for s in EventSources.all {
            let extra = (s.answerLosses ?? []).subtracting(s.lossKinds)
            XCTAssertTrue(extra.isEmpty, "\(s.name): answers rest on \(extra.sorted()), which it never writes")
        }
    }
}

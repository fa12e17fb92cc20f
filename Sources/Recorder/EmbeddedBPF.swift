/// The BPF objects compiled from bpf/*.bpf.c by the BPFEmbed plugin; each
/// generated file adds one `enum` here: the object and the names it defines.
enum EmbeddedBPF {}

struct EmbeddedObject: Sendable {
    let name: String
    let hex: StaticString

    /// Decodes the hex text once per load; a few hundred KB, microseconds.
    func bytes() -> [UInt8] {
        let n = hex.utf8CodeUnitCount / 2
        let p = hex.utf8Start
        @inline(__always) func nibble(_ c: UInt8) -> UInt8 { c <= 57 ? c &- 48 : c &- 87 }
        return [UInt8](unsafeUninitializedCapacity: n) { buf, count in
            for i in 0..<n { buf[i] = nibble(p[2 * i]) << 4 | nibble(p[2 * i + 1]) }
            count = n
        }
    }
}

/// A map of a BPF object, by the name the object gives it (EmbeddedBPF.NAME.Map).
struct BPFMap: Hashable, Sendable {
    let name: String
    init(_ name: String) { self.name = name }

    /// Every object's per-kind loss counters (bpf/common.bpf.h).
    static let losses = BPFMap("losses")
}

/// A program of a BPF object (EmbeddedBPF.NAME.Program).
struct BPFProgram: Hashable, Sendable {
    let name: String
    init(_ name: String) { self.name = name }
}

/// A read-only global (`const volatile`) of a BPF object (EmbeddedBPF.NAME.Constant).
struct BPFConstant: Hashable, Sendable {
    let name: String
    init(_ name: String) { self.name = name }
}

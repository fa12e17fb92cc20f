/// The BPF objects compiled from bpf/*.bpf.c by the BPFEmbed plugin; each
/// generated file adds one `static let` here.
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

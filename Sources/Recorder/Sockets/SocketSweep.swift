import CBPFGlue
import CEventABI
import Foundation

/// Takes the opens the kernel holds back for their closes (bpf/sockets.bpf.c,
/// pending_opens): those still there belong to connections still open. Each is
/// read and deleted in one step, so the close that comes later finds it gone and
/// writes a plain close; the records are stored as the kernel wrote them.
final class SocketSweep {
    private static let batch = 1024
    private var keys = [UInt64](repeating: 0, count: batch)
    private var values = [UInt8](repeating: 0, count: batch * MemoryLayout<nt_tcp_event>.stride)

    func run(_ object: BPFObject, deliver: (UnsafeRawPointer, Int) -> Void) throws {
        let map = try object.mapFD(EmbeddedBPF.Sockets.Map.pendingOpens)
        let size = MemoryLayout<nt_tcp_event>.size, stride = MemoryLayout<nt_tcp_event>.stride
        // The batch cursor is the map's own (a bucket index for a hash map).
        var cursor: UInt64 = 0, next: UInt64 = 0
        var first = true
        while true {
            var count = UInt32(Self.batch)
            let rc = keys.withUnsafeMutableBytes { k in
                values.withUnsafeMutableBytes { v in
                    withUnsafeMutablePointer(to: &cursor) { c in
                        bpf_map_lookup_and_delete_batch(map, first ? nil : UnsafeMutableRawPointer(c), &next,
                                                        k.baseAddress, v.baseAddress, &count, nil)
                    }
                }
            }
            let err = errno
            values.withUnsafeBytes { v in
                for i in 0..<Int(count) { deliver(v.baseAddress! + i * stride, size) }
            }
            if rc != 0 {
                if err == ENOENT { return }
                throw RecorderError.system("cannot take the connections' opens from the kernel: \(BPFObject.reason(err))")
            }
            first = false
            cursor = next
        }
    }
}

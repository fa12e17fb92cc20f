import CZstd

public enum Zstd {
    /// One zstd frame (ZSTD_compress with its content size); level 1...19.
    public static func compress(_ src: UnsafeRawBufferPointer, level: Int32 = 3) -> [UInt8] {
        let level = min(max(level, 1), 19)
        let bound = ZSTD_compressBound(src.count)
        var written = 0
        var out = [UInt8](unsafeUninitializedCapacity: bound) { buf, initialized in
            written = ZSTD_compress(buf.baseAddress, bound, src.baseAddress, src.count, level)
            // With a dst of compressBound's size, only an allocation failure can make it fail.
            precondition(ZSTD_isError(written) == 0, "ZSTD_compress: \(String(cString: ZSTD_getErrorName(written)))")
            initialized = written
        }
        // The bound is about the input's size: do not let a queue of sealed segments hold that much each.
        if out.capacity > 2 * written + 4096 { out = Array(out) }
        return out
    }

    /// Decompresses one frame that must hold exactly `rawSize` bytes; throws SegmentError on any
    /// error, on a frame whose declared or actual size differs, or when rawSize > Segment.maxRawBytes.
    public static func decompress(_ src: UnsafeRawBufferPointer, rawSize: Int) throws -> [UInt8] {
        try checkFrame(src, rawSize: rawSize)
        let base = src.baseAddress!
        return try alignedBytes(count: rawSize) { dst in
            // A capacity of exactly rawSize makes a longer frame fail (dstSize_tooSmall) instead of writing more.
            var one: UInt8 = 0
            let n = withUnsafeMutableBytes(of: &one) { scratch in
                ZSTD_decompress(dst.baseAddress ?? scratch.baseAddress, dst.count, base, src.count)
            }
            if ZSTD_isError(n) != 0 { throw SegmentError.decompress(errorName(n)) }
            guard n == rawSize else { throw SegmentError.decompress("frame holds \(n) bytes, expected \(rawSize)") }
        }
    }

    /// What both decompressors refuse before decoding: a size out of bounds, a header that is not
    /// zstd's or declares another size, bytes after the one frame.
    static func checkFrame(_ src: UnsafeRawBufferPointer, rawSize: Int) throws {
        guard rawSize >= 0, rawSize <= Segment.maxRawBytes else {
            throw SegmentError.decompress("size \(rawSize) is outside 0...\(Segment.maxRawBytes)")
        }
        guard let base = src.baseAddress, src.count > 0 else { throw SegmentError.decompress("empty frame") }
        var declared: UInt64 = 0
        switch nt_zstd_frame_content_size(base, src.count, &declared) {
        case -1: throw SegmentError.decompress("not a zstd frame header")
        case 1 where declared != UInt64(rawSize):
            throw SegmentError.decompress("frame declares \(declared) bytes, expected \(rawSize)")
        default: break
        }
        // ZSTD_decompress would go on into a second frame; a segment is one, and trailing bytes are damage.
        let frameSize = ZSTD_findFrameCompressedSize(base, src.count)
        if ZSTD_isError(frameSize) != 0 { throw SegmentError.decompress(errorName(frameSize)) }
        guard frameSize == src.count else {
            throw SegmentError.decompress("\(src.count - frameSize) bytes after the frame")
        }
    }

    fileprivate static func errorName(_ code: Int) -> String { String(cString: ZSTD_getErrorName(code)) }

    /// A compression context kept across frames: the recorder seals a segment every second per
    /// ring, and a fresh context for each costs its allocation and table set-up every time.
    /// One thread uses it.
    public final class Encoder {
        private let cctx: OpaquePointer
        public let level: Int32

        public init(level: Int32) {
            self.level = min(max(level, 1), 19)
            cctx = ZSTD_createCCtx()
        }

        deinit { ZSTD_freeCCtx(cctx) }

        /// One frame with its content size, as `Zstd.compress` makes.
        public func compress(_ src: UnsafeRawBufferPointer) -> [UInt8] {
            let bound = ZSTD_compressBound(src.count)
            var written = 0
            var out = [UInt8](unsafeUninitializedCapacity: bound) { buf, initialized in
                written = ZSTD_compressCCtx(cctx, buf.baseAddress, bound, src.baseAddress, src.count, level)
                precondition(ZSTD_isError(written) == 0, "ZSTD_compressCCtx: \(String(cString: ZSTD_getErrorName(written)))")
                initialized = written
            }
            if out.capacity > 2 * written + 4096 { out = Array(out) }
            return out
        }
    }

    /// A decompression context and output buffer kept across frames: a case build opens
    /// thousands of 1 MiB segments, and a fresh context and buffer for each cost page faults
    /// and allocations for nothing. One thread uses it.
    public final class Decoder {
        private let dctx: OpaquePointer
        private var buffer: UnsafeMutableRawPointer
        private var capacity: Int

        public init() {
            dctx = ZSTD_createDCtx()
            capacity = 0
            buffer = .allocate(byteCount: 16, alignment: 16)
        }

        deinit {
            ZSTD_freeDCtx(dctx)
            buffer.deallocate()
        }

        /// As `Zstd.decompress`, into the decoder's own buffer (16-byte aligned, so every record
        /// start is 8-aligned): `body` sees the payload, valid only until it returns.
        public func decompress<R>(_ src: UnsafeRawBufferPointer, rawSize: Int,
                                  _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
            try Zstd.checkFrame(src, rawSize: rawSize)
            if rawSize > capacity {
                buffer.deallocate()
                capacity = max(rawSize, Segment.targetRawBytes + 64 << 10)
                buffer = .allocate(byteCount: capacity, alignment: 16)
            }
            if rawSize > 0 {
                // A capacity of exactly rawSize makes a longer frame fail (dstSize_tooSmall) instead of writing more.
                let n = ZSTD_decompressDCtx(dctx, buffer, rawSize, src.baseAddress, src.count)
                if ZSTD_isError(n) != 0 { throw SegmentError.decompress(Zstd.errorName(n)) }
                guard n == rawSize else { throw SegmentError.decompress("frame holds \(n) bytes, expected \(rawSize)") }
            } else {
                var one: UInt8 = 0
                let n = withUnsafeMutableBytes(of: &one) { ZSTD_decompressDCtx(dctx, $0.baseAddress, 0, src.baseAddress, src.count) }
                if ZSTD_isError(n) != 0 { throw SegmentError.decompress(Zstd.errorName(n)) }
                guard n == 0 else { throw SegmentError.decompress("frame holds \(n) bytes, expected 0") }
            }
            return try body(UnsafeRawBufferPointer(start: buffer, count: rawSize))
        }
    }
}

/// A buffer for a payload the record decoders will read in place, so every record start (8-aligned
/// relative to the payload's base) is 8-aligned in memory. This relies on Swift's allocator: array
/// storage comes from malloc (16-aligned on Linux glibc) behind a 32-byte header, so the elements
/// are 16-aligned; the precondition makes a platform where that stops holding fail loudly here rather
/// than make misaligned loads elsewhere.
func alignedBytes(count: Int, _ fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows -> [UInt8] {
    try [UInt8](unsafeUninitializedCapacity: count) { buf, initialized in
        if count > 0 { precondition(UInt(bitPattern: buf.baseAddress) % 8 == 0, "array storage is not 8-byte aligned") }
        try fill(UnsafeMutableRawBufferPointer(buf))
        initialized = count
    }
}

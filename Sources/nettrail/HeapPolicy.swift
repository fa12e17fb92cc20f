/// How the analyzer's heap behaves. An answer builds arrays of megabytes that grow by
/// doubling; past glibc's default threshold each growth is a fresh mmap whose every page
/// faults in again, and each free an munmap. Kept in the heap instead (up to glibc's
/// largest threshold, 32 MiB), a freed block's pages are reused while warm, and the heap
/// grows in large steps (bench/RESULTS.md: a busy 1-s timeline window ~10 % faster).
enum HeapPolicy {
    // <malloc.h> is not in Swift's Glibc module; mallopt takes and returns C ints.
    @_silgen_name("mallopt") private static func mallopt(_ parameter: Int32, _ value: Int32) -> Int32
    private static let trimThreshold: Int32 = -1, topPad: Int32 = -2, mmapThreshold: Int32 = -3

    static func apply() {
        _ = mallopt(mmapThreshold, 32 << 20)
        _ = mallopt(trimThreshold, 1 << 30)
        _ = mallopt(topPad, 32 << 20)
    }
}

import CMalloc
import Glibc

/// The analyzer's heap in transparent huge pages. An answer is megabytes written once (a busy
/// second's timeline lines, their text), and each 4-KiB page first touched is a page fault:
/// on a VM that reports free pages to its host, ~4 µs each, a third of a 1-s window's time.
/// glibc's `glibc.malloc.hugetlb=1` tunable does this, but only from the environment. Here,
/// once a capture is open: allocations under 32 MiB come from the heap (not one mmap each);
/// the heap grows once by 64 MiB that stays (freed memory is reused, not returned); what is
/// allocated next starts at a huge page's boundary; and the stretch is advised as huge pages.
/// Where the kernel has THP off the advice is refused and nothing else changes.
enum HugePages {
    static let heapReserve = 64 << 20
    static let hugePage = 2 << 20
    /// Kept (stored, so that the compiler cannot drop an allocation nothing reads).
    nonisolated(unsafe) static var filler: UnsafeMutableRawPointer?

    static func adviseHeap() {
        guard mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1, mallopt(M_TOP_PAD, Int32(heapReserve)) == 1,
              mallopt(M_TRIM_THRESHOLD, Int32(2 * heapReserve)) == 1 else { return }
        // A block larger than the heap's free top makes it grow by the block and the pad; freed,
        // it is that top again. The advice begins past the header written at the block's end.
        let size = Int(mallinfo2().keepcost) + hugePage
        guard size < 30 << 20, let block = malloc(size) else { return }
        free(block)
        let start = (Int(bitPattern: block) + size + 64 + hugePage - 1) & ~(hugePage - 1)
        guard let top = sbrk(0), top != UnsafeMutableRawPointer(bitPattern: -1) else { return }
        let end = Int(bitPattern: top) & ~(hugePage - 1)
        guard end > start, let p = UnsafeMutableRawPointer(bitPattern: start) else { return }
        // Advised before anything is written there: a huge page goes only where no 4-KiB page is.
        guard madvise(p, end - start, MADV_HUGEPAGE) == 0 else { return }
        // Never freed, never touched: it moves the top to the boundary (to within a chunk's
        // header), where a huge page begins.
        if start - Int(bitPattern: block) > 64 { filler = malloc(start - Int(bitPattern: block)) }
    }
}

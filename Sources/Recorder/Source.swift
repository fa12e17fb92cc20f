import Format

/// One family of kernel events: a BPF object, the ring buffers it writes, and
/// which of its records are archived and which the recording must act on. Each
/// family has its own ring buffers so a flood of one cannot starve another.
struct Source {
    let name: String
    let object: BPFObject
    let rings: [BPFMap]
    /// The ABI kinds copied, undecoded, into the capture's segments (the analyzer decodes them: Events).
    let archived: Set<UInt32>
    /// Kinds the recording itself must read while it runs (following UDP flows, arming
    /// probes), by kind; a kind may be both live and archived. Runs on the recording thread.
    var live: [UInt32: (UnsafeRawPointer, Int, TimelineWriter) throws -> Void] = [:]
    /// Attaches the programs; called once the ring buffers are being read.
    var attach: (BPFObject) throws -> Void = { try $0.attachAll() }
    /// Runs once after attaching (e.g. a snapshot of kernel state); returns rows written.
    var snapshot: ((BPFObject, TimelineWriter) throws -> Int)? = nil
    /// Runs about once a second, and once more before the rings are read for the last
    /// time: takes what the kernel side holds back (e.g. opens of connections) and hands
    /// each record over as if it had been read off the source's first ring.
    var sweep: ((BPFObject, (UnsafeRawPointer, Int) -> Void) throws -> Void)? = nil
    /// Runs about once a second on the recording thread (now = boot ns), and once
    /// more with `final` = true before the capture closes (e.g. retiring flow state).
    var tick: ((BPFObject, TimelineWriter, UInt64, Bool) throws -> Void)? = nil
    /// Runs after every ring poll (at most ~100 ms apart) on the recording thread
    /// (now = boot ns): e.g. following new network namespaces, reading a Netlink socket.
    var poll: ((TimelineWriter, UInt64) throws -> Void)? = nil
    /// Runs once when recording ends, however it ends (after the final tick, if
    /// there was one), on the recording thread: stops threads the source started.
    var finish: (() -> Void)? = nil
    /// Kept for as long as the recording runs: closures above may hold it unowned.
    var owner: AnyObject? = nil
}

/// How the recorder makes one source from its options: nil when they leave it out.
/// Made in RecorderSources.all's order, before the capture file exists (a host that
/// cannot load a source leaves no empty capture behind).
struct SourceMaker {
    let make: @Sendable (RecordOptions) throws -> Source?
}

extension RecordOptions {
    /// Whether --only-sources (benchmarks) leaves the source named `name` in.
    func wants(_ name: String) -> Bool { onlySources?.contains(name) ?? true }
}

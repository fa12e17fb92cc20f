/// The losses no source owns, each spelled once: the recording's own (the disk, the copy off
/// a ring, a capture set's members), the decoder's, and a damaged segment. A source's own
/// loss kinds are in its EventSource (Sources/Events/NAME/).
public enum CaptureLoss {
    /// `loss.source` of what the recording itself lost: in every answer's scope.
    public static let recorder = "recorder"
    /// `loss.source` of records that did not decode: in every answer's scope.
    public static let decoder = "decoder"

    /// Records dropped while the disk was full (recorder).
    public static let diskFull = "disk_full"
    /// Records a ring held that could not be copied off it (recorder).
    public static let ringCopy = "ring_copy"
    /// --max-files removed a capture set's member: its span and records are gone (recorder).
    public static let rotatedOut = "rotated_out"
    /// A member the set's other members name is not there (recorder; the analyzer's finding).
    public static let memberMissing = "member_missing"
    /// Records that did not decode (decoder).
    public static let malformed = "malformed"
    /// A segment whose digest or chain does not hold: its records are not used (under the
    /// segment's source; the analyzer's finding).
    public static let segmentDamaged = "segment_damaged"

    /// Sources whose losses every answer rests on.
    public static let everySource: Set<String> = [recorder, decoder]
}

/// Every source the recorder runs, in the order it reads them. A new source registers
/// here; its attach and drain code is in its own folder (Sources/Recorder/NAME/).
enum RecorderSources {
    static let all: [SourceMaker] = [ProcessEvents.maker, SocketEvents.maker, ConntrackTracker.maker, ResolverWorker.maker]
}

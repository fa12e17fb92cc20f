/// Every event source the decoders, the kind names and the loss scopes know. A new source
/// registers here; its declaration is in its own folder (Sources/Events/NAME/).
public enum EventSources {
    public static let all: [EventSource] = [.process, .sockets, .conntrack, .resolver]
}

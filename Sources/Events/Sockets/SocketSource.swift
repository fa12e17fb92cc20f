import CEventABI

extension EventSource {
    /// bpf/sockets.bpf.c: TCP connections and UDP flows.
    public static let sockets = EventSource(
        name: "sockets",
        kinds: [
            .archived(NT_KIND_TCP_CONNECT, "tcp_connect", as: nt_tcp_event.self, "nt_tcp_event"),
            .archived(NT_KIND_TCP_ACCEPT, "tcp_accept", as: nt_tcp_event.self, "nt_tcp_event"),
            .archived(NT_KIND_TCP_CLOSE, "tcp_close", as: nt_tcp_event.self, "nt_tcp_event"),
            .archived(NT_KIND_TCP_SPAN, "tcp_span", as: nt_tcp_span.self, "nt_tcp_span"),
            .archived(NT_KIND_UDP_FLOW, "udp_flow", as: nt_udp_event.self, "nt_udp_event"),
        ],
        recorderLosses: [SocketRecords.evictedFlowLoss],
        // An evicted flow is in the answer, noted as evicted: only its counters are lost.
        answerLosses: .only([NT_KIND_TCP_CONNECT, NT_KIND_TCP_ACCEPT, NT_KIND_TCP_CLOSE, NT_KIND_TCP_SPAN,
                             NT_KIND_UDP_FLOW, NT_KIND_MAP_FULL]),
        decoder: { SocketRecords.decoder })
}

extension SocketRecords {
    /// UDP flows the kernel's full flow table evicted (their end and counters lost).
    public static let evictedFlowLoss = "udp_flow_end"
}

import CEventABI

extension EventSource {
    /// bpf/resolver.bpf.c: resolver calls, and what the recording needs to arm its probes.
    public static let resolver = EventSource(
        name: "resolver",
        kinds: [
            .archived(NT_KIND_DNS, "dns", as: nt_dns_event.self, "nt_dns_event"),
            .live(NT_KIND_DNS_LIB, "dns_lib"),
            .live(NT_KIND_EXEC_NOTICE, "exec_notice"),
        ],
        recorderLosses: [DNSRecords.armingLoss],
        answerLosses: .only([NT_KIND_DNS, NT_KIND_DNS_LIB, NT_KIND_EXEC_NOTICE], recorded: [DNSRecords.armingLoss]),
        decoder: { DNSRecords.decoder })
}

extension DNSRecords {
    /// Mappings and execs the arming worker had not acted on when the recording ended: calls
    /// into the libraries they mapped may be missing.
    public static let armingLoss = "dns_arming"
}

import CEventABI

extension EventSource {
    /// bpf/conntrack.bpf.c, or libnetfilter_conntrack's events where it cannot run (`conntrack-netlink`).
    public static let conntrack = EventSource(
        name: "conntrack",
        otherLossSources: [ConntrackRecords.netlinkSource],
        kinds: [
            .archived(NT_KIND_CT_NEW, "conntrack_new", as: nt_ct_event.self, "nt_ct_event"),
            .archived(NT_KIND_CT_END, "conntrack_end", as: nt_ct_event.self, "nt_ct_event"),
        ],
        recorderLosses: [ConntrackRecords.netlinkOverrunLoss],
        answerLosses: .every,
        decoder: { ConntrackRecords.decoder })
}

extension ConntrackRecords {
    /// The source's name when it records Netlink's events instead of running the netfilter program.
    public static let netlinkSource = "conntrack-netlink"
    /// A Netlink socket's overruns (ENOBUFS): the kernel does not say how many events each dropped.
    public static let netlinkOverrunLoss = "netlink_enobufs"
}

/// Every answer's columns, in output order: one declaration per subcommand, read by the
/// queries (row order), the table (default set), `--help` and the README.
public enum Columns {
    /// Each subcommand with its columns, in the order the README documents them.
    public static var bySubcommand: [(String, [Column])] {
        [("info", info), ("containers", containers), ("processes", processes), ("connections", connections),
         ("who", who), ("nat", nat), ("timeline", timeline), ("dns", dns), ("verify", verify)]
    }

    /// The README's column reference.
    public static var markdown: String {
        bySubcommand.map { "### \($0.0)\n\n\($0.1.markdown)" }.joined(separator: "\n")
    }

    public static let processes: [Column] = [
        Column("pid", "process id (on the host's pid namespace)", shown: true),
        Column("start", "when the process began (its task start time), RFC 3339 UTC", shown: true),
        Column("exec", "when it began running this program (none: running it when the capture started)"),
        Column("end", "when it exited (none: still running when the capture ended)", shown: true),
        Column("ppid", "parent's pid", shown: true),
        Column("parent_start", "parent's start time: with ppid, names the parent even if its pid was reused"),
        Column("container", "container id (64 hex for docker/containerd/podman/CRI-O) or runc name; none on the host", shown: true),
        Column("runtime", "the container's runtime, from its cgroup path"),
        Column("pod", "Kubernetes pod UID, when the cgroup is under kubepods"),
        Column("uid", "real user id"),
        Column("exit_code", "exit status (0-255), when it exited normally", shown: true),
        Column("signal", "the signal that killed it, when one did"),
        Column("seen", "snapshot: alive at start (start time from /proc); live: its fork was seen"),
        Column("comm", "the kernel's 16-byte task name", shown: true),
        Column("parents", "ancestors, nearest first, as pid:program"),
        Column("exe", "the program file it exec'd"),
        Column("argv", "arguments as run, shell-quoted in tables, after the file (FILE: ARGS) where argv[0] does not name it", shown: true),
    ]

    public static let connections: [Column] = [
        Column("proto", "tcp or udp", shown: true),
        Column("direction", "outbound (connect/send first), inbound (accept/receive first), or unknown (open at start)", shown: true),
        Column("start", "when the connection began (SYN, accept, first datagram)", shown: true),
        Column("end", "when it closed (UDP: when the flow went idle or was retired)"),
        Column("duration_ms", "end - start, in milliseconds", shown: true),
        Column("local", "this host's end, IP:PORT", shown: true),
        Column("remote", "the peer's end, IP:PORT, as the socket saw it (before NAT)", shown: true),
        Column("netns", "network namespace inode"),
        Column("pid", "owning process (connecting task, or the first to use an accepted socket)", shown: true),
        Column("process_start", "the owner's start time: with pid, names it even if the pid was reused"),
        Column("comm", "the owner's task name", shown: true),
        Column("exe", "the program the owner was running"),
        Column("container", "the owner's container", shown: true),
        Column("result", "connect: 0 or -errno of the call (-115, EINPROGRESS, for every non-blocking connect, whatever came of it: see state); accept: the new fd"),
        Column("state", "TCP: the last state (\"never established (…)\" when the handshake failed); UDP: why the flow ended; open: not closed in the capture", shown: true),
        Column("bytes_sent", "payload bytes sent (TCP: acknowledged)", shown: true),
        Column("bytes_received", "payload bytes received", shown: true),
        Column("retransmits", "TCP segments retransmitted"),
        Column("nat", "how the connection looked outside the host after NAT (from conntrack)"),
        Column("argv", "the owner's arguments (tables: as for processes)"),
        Column("resolved_name", "the name the owner itself resolved to the remote address before connecting"),
    ]

    public static let who: [Column] = [
        Column("match", "which end of the connection the address is: local, remote, or \"via NAT (…)\" with the mapping", shown: true),
        Column("timing", "live (the connection, and its mapping through NAT, held at that moment: the answer) or nearby (within --slack: how far before or after)", shown: true),
        Column("proto", "tcp or udp", shown: true),
        Column("direction", "outbound, inbound, or unknown (open at start)"),
        Column("local", "this host's end, IP:PORT", shown: true),
        Column("remote", "the peer's end, IP:PORT", shown: true),
        Column("netns", "network namespace inode"),
        Column("start", "when the connection began"),
        Column("end", "when it closed (none: open at the end of the capture)"),
        Column("pid", "owning process", shown: true),
        Column("process_start", "the owner's start time: with pid, names it even if the pid was reused"),
        Column("tid", "the thread that connected, accepted or first used the socket"),
        Column("comm", "the owner's task name", shown: true),
        Column("exe", "the program the owner was running"),
        Column("container", "the owner's container", shown: true),
        Column("runtime", "the container's runtime"),
        Column("parents", "the owner's ancestors, nearest first, as pid:program", shown: true),
        Column("argv", "the owner's arguments (tables: as for processes)"),
        Column("resolved_name", "the name the owner itself resolved to the remote address before connecting"),
    ]

    public static let nat: [Column] = [
        Column("timing", "with --at: live (the mapping held at that moment: the answer) or nearby (within --slack: how far before or after)", shown: true),
        Column("start", "when the mapping began (\"before …\": it existed when the capture started)", shown: true),
        Column("end", "when it ended (none: live at the end of the capture)", shown: true),
        Column("start_kind", "how its start is known: a conntrack event seen at a hook (new, reopen), netlink (fallback source), snapshot (dumped at start: since when is unknown)"),
        Column("end_kind", "observed (its end was seen) or inferred (a later mapping took the tuple, or none was seen before the capture ended)"),
        Column("end_reason", "observed (TCP close seen), destroyed (left the conntrack table), superseded (a later mapping took the tuple), open (no end seen)"),
        Column("netns", "network namespace inode of the conntrack table"),
        Column("proto", "tcp, udp, icmp, icmpv6, sctp or a protocol number", shown: true),
        Column("matched", "which of the four endpoints the address is"),
        Column("original_src", "source before NAT (the inside client for SNAT/MASQUERADE)", shown: true),
        Column("original_dst", "destination before NAT (the published address for DNAT)", shown: true),
        Column("translated_src", "source after NAT (what the outside saw)", shown: true),
        Column("translated_dst", "destination after NAT (the inside server for DNAT)", shown: true),
        Column("answer", "the other side of the translation: the endpoint the address stood for", shown: true),
        Column("cgroup_id", "cgroup of the task that created the entry, when a local task did (0: forwarded traffic)"),
    ]

    public static let timeline: [Column] = [
        Column("time", "when, RFC 3339 UTC", shown: true),
        Column("event", "fork, exec, exit, tcp connect, tcp accept, tcp open at start, tcp close, udp flow (send|recv), udp flow end", shown: true),
        Column("pid", "the process", shown: true),
        Column("comm", "its task name", shown: true),
        Column("container", "its container", shown: true),
        Column("detail", "exec: argv; fork: parent; exit: code or signal; connections: tuple, netns, NAT, bytes, state", shown: true),
    ]

    public static let dns: [Column] = [
        Column("time", "when the call began", shown: true),
        Column("pid", "the calling process", shown: true),
        Column("process_start", "its start time"),
        Column("tid", "the calling thread"),
        Column("comm", "its task name", shown: true),
        Column("exe", "the program it was running"),
        Column("container", "its container", shown: true),
        Column("function", "getaddrinfo, gethostbyname or gethostbyname2"),
        Column("name", "the name asked for", shown: true),
        Column("result", "ok, an EAI_* error (getaddrinfo), or NULL (gethostbyname*)", shown: true),
        Column("addresses", "the addresses returned", shown: true),
        Column("duration_us", "how long the call took, in microseconds", shown: true),
        Column("flags", "name_truncated, addresses_truncated, name_unreadable"),
    ]

    public static let containers: [Column] = [
        Column("container", "container id (64 hex) or runc name", shown: true),
        Column("runtime", "docker, containerd, crio, podman, runc, ecs", shown: true),
        Column("pod", "Kubernetes pod UID, when there is one"),
        Column("first_seen", "earliest event of the container (its cgroup made, a process in it, a connection)", shown: true),
        Column("last_seen", "latest such event", shown: true),
        Column("processes", "processes seen in it", shown: true),
        Column("connections", "connections and UDP flows its processes owned", shown: true),
        Column("cgroup", "its cgroup path", shown: true),
    ]

    public static let info: [Column] = [
        Column("field", "what is described", shown: true),
        Column("value", "its value", shown: true),
    ]

    public static let verify: [Column] = [
        Column("segment", "segment sequence number", shown: true),
        Column("source", "the recorder source that wrote it", shown: true),
        Column("ring", "its ring buffer", shown: true),
        Column("first", "its first record's time", shown: true),
        Column("last", "its last record's time", shown: true),
        Column("records", "records it holds", shown: true),
        Column("problem", "what is wrong with it", shown: true),
    ]
}

import CEventABI

extension EventSource {
    /// bpf/process.bpf.c: forks, execs, exits and cgroup changes.
    public static let process = EventSource(
        name: "process",
        kinds: [
            .archived(NT_KIND_FORK, "fork", as: nt_proc_event.self, "nt_proc_event"),
            .archived(NT_KIND_EXEC, "exec", as: nt_exec_event.self, "nt_exec_event"),
            .archived(NT_KIND_EXIT, "exit", as: nt_proc_event.self, "nt_proc_event"),
            .archived(NT_KIND_CGROUP_MKDIR, "cgroup_mkdir", as: nt_cgroup_event.self, "nt_cgroup_event"),
            .archived(NT_KIND_CGROUP_RMDIR, "cgroup_rmdir", as: nt_cgroup_event.self, "nt_cgroup_event"),
            .archived(NT_KIND_CGROUP_ATTACH, "cgroup_attach", as: nt_cgroup_event.self, "nt_cgroup_event"),
        ],
        // No answer reads an rmdir.
        answerLosses: .only([NT_KIND_FORK, NT_KIND_EXEC, NT_KIND_EXIT, NT_KIND_CGROUP_MKDIR, NT_KIND_CGROUP_ATTACH]),
        decoder: { ProcessRecords.decoder })

    /// The losses "which image did a process run" rests on: the process source's execs.
    public static let imageLosses: Set<String> = [EventKind.name(NT_KIND_EXEC.rawValue)]
}

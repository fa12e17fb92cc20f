import Analyzer
import ArgumentParser

struct ProcessesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "processes",
        abstract: "Process lifetimes with identity, parent, container, exe, argv and exit.",
        discussion: helpText(examples: [
            "nettrail processes capture.db --container demo-web",
            "nettrail processes capture.db --name 'curl' --last 5m",
            "nettrail processes capture.db --pid 5150 -o pid,start,end,parents,argv",
        ], columns: ProcessQuery.columns))

    @OptionGroup var capture: CaptureOptions
    @OptionGroup var window: WindowOptions

    @OptionGroup var owner: OwnerOptions

    @Option(name: .long, help: "Only programs matching this shell glob: exe path or name, argv[0], or comm (e.g. 'curl', '*sh').")
    var name: String?

    @Flag(name: .customLong("no-kernel-threads"), help: "Leave out kernel threads (kthreadd, pid 2, and the threads it starts).")
    var noKernelThreads = false

    func validate() throws { try capture.validate(ProcessQuery.columns) }

    func run() {
        let c = capture.open()
        let w = window.resolve(c)
        var t = ProcessQuery.run(c, ProcessFilter(from: w.from, to: w.to, container: owner.container, pid: owner.pid, name: name,
                                                    kernelThreads: !noKernelThreads))
        RowFilter(comm: owner.comm).apply(&t)
        emit(t, capture, capture: c, notes: w.notes + c.containerNotes(owner.container))
    }
}

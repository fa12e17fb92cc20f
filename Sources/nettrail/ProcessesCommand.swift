import Analyzer
import ArgumentParser

struct ProcessesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "processes",
        abstract: "Process lifetimes with identity, parent, container, exe, argv and exit.")

    @OptionGroup var capture: CaptureOptions
    @OptionGroup var window: WindowOptions

    @Option(name: .long, help: "Container ID, or a prefix of 12 or more characters.")
    var container: String?

    @Option(name: .long, parsing: .unconditional, help: "Only this pid (every incarnation of it).")
    var pid: UInt32?

    @Option(name: .long, help: "Only programs matching this shell glob: exe path or name, argv[0], or comm (e.g. 'curl', '*sh').")
    var name: String?

    func run() {
        let c = capture.open()
        let w = window.resolve(c)
        emit(ProcessQuery.run(c, ProcessFilter(from: w.from, to: w.to, container: container, pid: pid, name: name)), capture.format,
             capture: c, notes: w.notes)
    }
}

import Analyzer
import ArgumentParser

struct ContainersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "containers",
        abstract: "Every container the capture saw: runtime, first and last seen, processes and connections.",
        discussion: helpText(examples: [
            "nettrail containers capture.db",
            "nettrail containers capture.db --format json",
        ], columns: ContainersQuery.columns))

    @OptionGroup var capture: CaptureOptions

    func validate() throws { try capture.validate(ContainersQuery.columns) }

    func run() {
        let c = capture.open()
        do { emit(try ContainersQuery.run(c), capture, capture: c) } catch { fail(error) }
    }
}

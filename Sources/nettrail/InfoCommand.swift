import Analyzer
import ArgumentParser

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Capture metadata, time span, event counts and loss windows.",
        discussion: helpText(examples: [
            "nettrail info capture.db",
            "nettrail info capture.db --format json | jq 'select(.field == \"duration_s\")'",
        ], columns: Columns.info))

    @OptionGroup var capture: CaptureOptions

    func validate() throws { try capture.validate(Columns.info) }

    func run() {
        let c = capture.open()
        do { emit(try InfoQuery.run(c), capture) } catch { fail(error) }
    }
}

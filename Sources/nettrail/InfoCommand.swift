import Analyzer
import ArgumentParser

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Capture metadata, time span, event counts and loss windows.")

    @OptionGroup var capture: CaptureOptions

    func run() {
        let c = capture.open()
        do { emit(try InfoQuery.run(c), capture.format) } catch { fail(error) }
    }
}

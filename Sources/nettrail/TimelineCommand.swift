import Analyzer
import ArgumentParser

struct TimelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timeline",
        abstract: "A chronological replay of process and network events.")

    @OptionGroup var capture: CaptureOptions
    @OptionGroup var window: WindowOptions

    @Option(name: .long, help: "Container ID, or a prefix of 12 or more characters.")
    var container: String?

    func run() {
        let c = capture.open()
        let w = window.resolve(c)
        do { emit(try TimelineQuery.run(c, from: w.from, to: w.to, container: container,
                                         nat: try? ConntrackNATResolver(c)), capture.format,
                          capture: c, notes: w.notes) }
        catch { fail(error) }
    }
}

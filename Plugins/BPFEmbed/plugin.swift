import Foundation
import PackagePlugin

/// Compiles every `bpf/*.bpf.c` with clang's BPF target and embeds each object
/// in the target as a hex `StaticString`, so the recorder binary carries its
/// kernel programs and can be copied anywhere on its own.
@main
struct BPFEmbed: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let bpfDir = context.package.directoryURL.appending(path: "bpf")
        let script = bpfDir.appending(path: "embed.sh")
        let files = try FileManager.default.contentsOfDirectory(atPath: bpfDir.path())
        let headers = files.filter { $0.hasSuffix(".h") }.map { bpfDir.appending(path: $0) }
        return files.filter { $0.hasSuffix(".bpf.c") }.sorted().map { file in
            let name = String(file.dropLast(".bpf.c".count))
            let source = bpfDir.appending(path: file)
            let output = context.pluginWorkDirectoryURL.appending(path: "\(name).bpf.swift")
            return .buildCommand(
                displayName: "Compiling BPF object \(file)",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [script.path(), source.path(), output.path(), context.pluginWorkDirectoryURL.path()],
                inputFiles: [source, script] + headers,
                outputFiles: [output]
            )
        }
    }
}

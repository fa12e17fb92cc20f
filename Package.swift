// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "nettrail",
    products: [
        .executable(name: "nettrail", targets: ["nettrail"]),
        .executable(name: "nettrail-record", targets: ["nettrail-record"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        // glibc's malloc.h: the analyzer tunes its heap.
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        // libzstd: the codec of capture segments (Format).
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // The event ABI (bpf/nettrail.h) alone: the decoders' view of the records, no libbpf.
        .target(name: "CEventABI"),
        // The libbpf glue. Only the recorder links it.
        .target(
            name: "CBPFGlue",
            dependencies: ["CEventABI"],
            linkerSettings: [.linkedLibrary("bpf"), .linkedLibrary("elf"), .linkedLibrary("z")]
        ),
        // libnetfilter_conntrack: the conntrack source's startup dump and Netlink fallback. Only the recorder links it.
        .target(
            name: "CConntrack",
            dependencies: ["CBPFGlue"],
            linkerSettings: [.linkedLibrary("netfilter_conntrack"), .linkedLibrary("nfnetlink")]
        ),
        .plugin(name: "BPFEmbed", capability: .buildTool()),

        // The VFS evidence is read through: never written, its WAL index in memory (no -shm beside it).
        .target(name: "CEvidenceVFS", dependencies: ["CSQLite"]),
        .target(name: "Format", dependencies: ["CSQLite", "CZstd", "CEvidenceVFS"]),
        // Ring records to timeline rows, one decoder per source: the analyzer's indexer and the recorder's snapshots.
        .target(name: "Events", dependencies: ["Format", "CEventABI"]),
        .target(
            name: "Recorder",
            dependencies: ["Format", "Events", "CBPFGlue", "CConntrack", .product(name: "Logging", package: "swift-log")],
            plugins: ["BPFEmbed"]
        ),
        .target(name: "Analyzer", dependencies: ["Format", "Events"]),

        .executableTarget(
            name: "nettrail-record",
            dependencies: ["Recorder", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "nettrail",
            dependencies: ["Analyzer", "Format", "CMalloc", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        // Benchmarks (bench/RESULTS.md): ratios against a baseline run in the same process.
        .executableTarget(
            name: "nettrail-bench",
            dependencies: ["Recorder", "Analyzer", "Format", "CSQLite"],
            path: "bench/NettrailBench"
        ),

        .testTarget(name: "FormatTests", dependencies: ["Format"]),
        .testTarget(name: "EventsTests", dependencies: ["Events", "CEventABI", "Format"]),
        .testTarget(name: "AnalyzerTests", dependencies: ["Analyzer", "Events", "CEventABI", "Format"]),
        .testTarget(name: "CaptureTests", dependencies: ["Recorder", "Analyzer"]),
    ]
)

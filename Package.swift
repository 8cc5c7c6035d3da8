// swift-tools-version: 6.0
import PackageDescription

// The agent links only Glibc, the C libraries below and its own modules: no Foundation,
// so that its resident memory stays small on a device. edgectl may use heavier packages.
// The agent's modules use neither Swift concurrency nor Regex: without their implicit imports the
// statically linked agent does not carry _Concurrency, _StringProcessing and _RegexParser.
let leanSwift: [SwiftSetting] = [.unsafeFlags([
    "-Xfrontend", "-disable-implicit-concurrency-module-import",
    "-Xfrontend", "-disable-implicit-string-processing-module-import",
])]

// How the agent is linked, for its resident memory (docs/architecture.md, "Code layout"):
// - the Swift runtime statically (edgectl and the tests keep the shared one): one fewer set of
//   shared libraries to map and relocate;
// - the C++ library statically too, for the few parts that runtime uses: Sources/edge-agent/link/
//   answers the runtime's -lstdc++ with libstdc++.a instead of loading libstdc++.so (about 1 MB);
// - by lld, with the functions a real run executes laid out first, hottest first
//   (Sources/edge-agent/edge-agent.order, written by scripts/agent-order.sh): the kernel maps code
//   64 KiB around each page touched, so the code the agent runs then shares a few such blocks;
// - with packed relative relocations (DT_RELR, glibc 2.36): 3 KB to read at start instead of 435 KB;
// - SQLite (the outbox) statically as well: its code then joins the agent's laid-out text, where
//   libsqlite3.so, mapped 64 KiB around each page touched, cost 1.4 MB resident.
let agentLinking = [
    "-Xlinker", "-l:libsqlite3.a", "-Xlinker", "-lm",
    "-static-stdlib", "-use-ld=lld", "-L", "\(Context.packageDirectory)/Sources/edge-agent/link",
    "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/Sources/edge-agent/edge-agent.order",
    "-Xlinker", "--no-warn-symbol-ordering",
    "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
]

let package = Package(
    name: "edge-agent",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "edge-agent", targets: ["edge-agent"]),
        .executable(name: "edgectl", targets: ["edgectl"]),
        .executable(name: "edge-loadgen", targets: ["edge-loadgen"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // HdrHistogram, for the benchmarks' load generator only.
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // The web server of `edgectl dashboard` only (never linked into the agent), and the two
        // of its own dependencies the dashboard names: its logger, and the channel's bound port.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.14.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
    ],
    targets: [
        // One bridge target per C library.
        .systemLibrary(name: "CMosquitto", pkgConfig: "libmosquitto", providers: [.apt(["libmosquitto-dev"])]),
        .systemLibrary(name: "CJSONC", pkgConfig: "json-c", providers: [.apt(["libjson-c-dev"])]),
        // Header only (libcurl4-openssl-dev): no pkgConfig, which would add -lcurl; libcurl is dlopen'd on first use.
        .systemLibrary(name: "CCurl"),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // Header only: the agent links libsqlite3.a (agentLinking), the tests libsqlite3.so.
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        // The one hand-written C shim: process spawning and the few calls Swift cannot import.
        .target(name: "CEdgeSpawn"),

        // Pure Swift: documents, validation, routing, state. No C imports.
        .target(name: "EdgeCore", swiftSettings: leanSwift),
        // Thin adapters over the C libraries and the kernel.
        .target(name: "EdgeJSON", dependencies: ["EdgeCore", "CJSONC"], swiftSettings: leanSwift),
        .target(name: "EdgePOSIX", dependencies: ["EdgeCore", "CEdgeSpawn"], swiftSettings: leanSwift),
        .target(name: "EdgeMQTT", dependencies: ["EdgeCore", "EdgePOSIX", "CMosquitto"], swiftSettings: leanSwift),
        .target(name: "EdgeArtifacts", dependencies: ["EdgeCore", "EdgePOSIX", "CCurl", "CZlib", "CCrypto"], swiftSettings: leanSwift),
        .target(name: "EdgeCgroups", dependencies: ["EdgeCore", "EdgePOSIX", "CEdgeSpawn"], swiftSettings: leanSwift),
        // Ed25519 through libcrypto: the agent verifies deployments, edgectl makes keys and signs.
        .target(name: "EdgeSigning", dependencies: ["EdgeCore", "CCrypto"], swiftSettings: leanSwift),
        // Wiring: the reactor, deployments, function supervision, health.
        .target(name: "EdgeAgent", dependencies: ["EdgeCore", "EdgeJSON", "EdgePOSIX", "EdgeMQTT", "EdgeArtifacts", "EdgeCgroups", "EdgeSigning", "CEdgeSpawn", "CSQLite"], swiftSettings: leanSwift),
        .executableTarget(name: "edge-agent", dependencies: ["EdgeAgent"], exclude: ["edge-agent.order", "link"], swiftSettings: leanSwift, linkerSettings: [.unsafeFlags(agentLinking)]),
        .executableTarget(name: "edgectl", dependencies: [
            "EdgeCore", "EdgeJSON", "EdgeMQTT", "EdgePOSIX", "EdgeSigning", "CMosquitto",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // The benchmarks' MQTT load generator and broker-only echo baseline (not installed on devices).
        .executableTarget(name: "edge-loadgen", dependencies: [
            "EdgeCore", "EdgeMQTT", "EdgePOSIX",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ]),

        .testTarget(name: "EdgeCoreTests", dependencies: ["EdgeCore", "EdgeJSON"]),
        .testTarget(name: "EdgePOSIXTests", dependencies: ["EdgePOSIX"]),
        .testTarget(name: "EdgeArtifactsTests", dependencies: ["EdgeArtifacts"]),
        .testTarget(name: "EdgeSigningTests", dependencies: ["EdgeSigning", "EdgeCore"]),
        .testTarget(name: "EdgeCgroupsTests", dependencies: ["EdgeCgroups", "EdgeCore", "EdgePOSIX"]),
        // Against a real Mosquitto on a free loopback port.
        .testTarget(name: "EdgeMQTTTests", dependencies: ["EdgeCore", "EdgeMQTT", "EdgePOSIX"]),
        // edgectl dashboard's state, folded from messages, and its access checks.
        .testTarget(name: "EdgectlDashboardTests", dependencies: ["edgectl", "EdgeCore", "EdgeJSON"]),
        // The shell's own parts that need no broker or process (the service group).
        .testTarget(name: "EdgeAgentTests", dependencies: ["EdgeAgent", "EdgeCore", "EdgeJSON", "EdgePOSIX"],
                    linkerSettings: [.linkedLibrary("sqlite3")]),
    ],
    swiftLanguageModes: [.v6]
)

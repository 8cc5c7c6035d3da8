// swift-tools-version: 6.0
import PackageDescription

// The agent links only Glibc, the C libraries below and its own modules: no Foundation,
// so that its resident memory stays small on a device. edgectl may use heavier packages.
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
    ],
    targets: [
        // One bridge target per C library.
        .systemLibrary(name: "CMosquitto", pkgConfig: "libmosquitto", providers: [.apt(["libmosquitto-dev"])]),
        .systemLibrary(name: "CJSONC", pkgConfig: "json-c", providers: [.apt(["libjson-c-dev"])]),
        // Header only (libcurl4-openssl-dev): no pkgConfig, which would add -lcurl; libcurl is dlopen'd on first use.
        .systemLibrary(name: "CCurl"),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // The one hand-written C shim: process spawning and the few calls Swift cannot import.
        .target(name: "CEdgeSpawn"),

        // Pure Swift: documents, validation, routing, state. No C imports.
        .target(name: "EdgeCore"),
        // Thin adapters over the C libraries and the kernel.
        .target(name: "EdgeJSON", dependencies: ["EdgeCore", "CJSONC"]),
        .target(name: "EdgePOSIX", dependencies: ["EdgeCore", "CEdgeSpawn"]),
        .target(name: "EdgeMQTT", dependencies: ["EdgeCore", "EdgePOSIX", "CMosquitto"]),
        .target(name: "EdgeArtifacts", dependencies: ["EdgePOSIX", "CCurl", "CZlib", "CCrypto"]),
        .target(name: "EdgeCgroups", dependencies: ["EdgeCore", "EdgePOSIX", "CEdgeSpawn"]),
        // Wiring: the reactor, deployments, function supervision, health.
        .target(name: "EdgeAgent", dependencies: ["EdgeCore", "EdgeJSON", "EdgePOSIX", "EdgeMQTT", "EdgeArtifacts", "EdgeCgroups", "CEdgeSpawn"]),
        // The Swift runtime linked statically into the agent only: one fewer set of shared libraries to map
        // (about 2 MB less resident memory, and a faster start); edgectl and the tests keep the shared runtime.
        .executableTarget(name: "edge-agent", dependencies: ["EdgeAgent"], linkerSettings: [.unsafeFlags(["-static-stdlib"])]),
        .executableTarget(name: "edgectl", dependencies: [
            "EdgeCore", "EdgeJSON", "EdgeMQTT", "EdgePOSIX",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
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
        .testTarget(name: "EdgeCgroupsTests", dependencies: ["EdgeCgroups", "EdgeCore", "EdgePOSIX"]),
        // Against a real Mosquitto on a free loopback port.
        .testTarget(name: "EdgeMQTTTests", dependencies: ["EdgeMQTT", "EdgePOSIX"]),
        // The shell's own parts that need no broker or process (the service group).
        .testTarget(name: "EdgeAgentTests", dependencies: ["EdgeAgent", "EdgeCore", "EdgePOSIX"]),
    ],
    swiftLanguageModes: [.v6]
)

#if canImport(Glibc)
import Glibc
#endif
import EdgeAgent
import EdgeCore
import EdgeJSON
import EdgePOSIX

/// Reads the configuration, reports a bad one with the fix, and runs the agent.
func fail(_ message: String) -> Never {
    var line = Array("edge-agent: \(message)\n".utf8)
    line.withUnsafeMutableBytes { _ = write(2, $0.baseAddress, $0.count) }
    exit(2)
}

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.contains("--help") || arguments.contains("-h") {
    print(ConfigurationLoader.usage)
    exit(0)
}
if arguments.contains("--version") {
    print("edge-agent \(HealthReport.agentVersion)")
    exit(0)
}

/// The `--config` file's document, or nil without `--config`.
func configFile(in arguments: [String]) throws -> JSONValue? {
    guard let path = try ConfigurationLoader.configPath(in: arguments) else { return nil }
    let bytes: [UInt8]
    do { bytes = try Files.read(path, maxBytes: 1 << 20) } catch {
        fail("--config: cannot read \(path): \(error.reason.lowercased())")
    }
    switch JSONCodec.parse(bytes) {
    case .success(let parsed): return parsed
    case .failure(let error): fail("--config: \(path) is not valid JSON: \(error.message)")
    }
}

/// The variables the configuration reads (the broker's credentials), from the environment.
func configEnvironment() -> [String: String] {
    var found: [String: String] = [:]
    for name in ["EDGE_BROKER_USERNAME", "EDGE_BROKER_PASSWORD"] {
        if let value = getenv(name) { found[name] = String(cString: value) }
    }
    return found
}

do {
    let file = try configFile(in: arguments)
    let config = try ConfigurationLoader.load(file: file, arguments: arguments, environment: configEnvironment())
    let agent = try Agent(config: config)
    agent.run()
} catch let error as ConfigurationError {
    fail(error.description)
} catch {
    fail(String(describing: error))
}

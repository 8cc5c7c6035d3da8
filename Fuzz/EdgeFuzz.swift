// libFuzzer entry point for every parser of the agent that reads the outside world. Built by
// scripts/fuzz.sh with -sanitize=fuzzer,address against the agent's own modules; the target is
// chosen by EDGE_FUZZ_TARGET. A target traps (and libFuzzer saves the input) only where the agent
// would crash; every refusal is an ordinary result. See docs/fuzzing.md.
#if canImport(Glibc)
import Glibc
#endif
import EdgeArtifacts
import EdgeCore
import EdgeJSON

enum FuzzTarget: String, CaseIterable {
    /// The agent's own JSON scanner: every MQTT event payload and runtime-protocol line.
    case json
    /// One line a function writes on fd 3.
    case runtime
    /// A deployment document from the broker.
    case deployment
    /// A shadow request from the broker (update, get, delete).
    case shadow
    /// The agent's configuration file.
    case config
    /// A tar archive (headers, long names, pax records) and its extraction plan.
    case tar
    /// gzip data, inflated in memory.
    case gzip
    /// An artifact file read as the agent unpacks it: streamed, gzip or not, entries checked.
    case archive
}

let target: FuzzTarget = {
    guard let name = getenv("EDGE_FUZZ_TARGET").map({ String(cString: $0) }), let target = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        fputs("EDGE_FUZZ_TARGET must name a target: \(names)\n", stderr)
        exit(2)
    }
    return target
}()

let scratch = "/dev/shm/edge-fuzz-\(getpid()).archive"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    switch target {
    case .json:
        bytes.withUnsafeBufferPointer { buffer in
            _ = JSONScanner.problem(in: buffer, maxDepth: RuntimeProtocol.maxEventDepth, uniqueKeys: true)
            if case .success(let members?) = JSONScanner.members(of: buffer, maxDepth: RuntimeProtocol.maxEventDepth) {
                for member in members where member.kind == .string {
                    _ = JSONScanner.unescape(UnsafeBufferPointer(rebasing: buffer[(member.value.lowerBound + 1)..<(member.value.upperBound - 1)]))
                }
            }
        }
    case .runtime:
        _ = bytes.withUnsafeBufferPointer { RuntimeLine.read($0) }
    case .deployment:
        if case .success(let document) = JSONCodec.parse(bytes, maxDepth: 32, uniqueKeys: true) {
            _ = DeploymentParser.parse(document, thing: "fuzz")
        }
    case .shadow:
        if case .success(let document) = JSONCodec.parse(bytes, maxDepth: 32) {
            _ = ShadowRequest.update(document)
            _ = ShadowRequest.other(document)
        }
    case .config:
        if case .success(let document) = JSONCodec.parse(bytes, maxDepth: 32, uniqueKeys: true) {
            _ = try? ConfigurationLoader.load(file: document, arguments: [])
            _ = try? ConfigurationLoader.load(file: document, arguments: ["--thing-name", "fuzz"])
        }
    case .tar:
        _ = try? ArchiveExtractor.validate(tar: bytes, maxBytes: 1 << 20, maxEntries: 1000)
    case .gzip:
        if let inflated = try? Gzip.decompress(bytes, maxOutputBytes: 1 << 20) {
            _ = try? ArchiveExtractor.validate(tar: inflated, maxBytes: 1 << 20, maxEntries: 1000)
        }
    case .archive:
        let fd = open(scratch, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { fatalError("cannot write \(scratch)") }
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        _ = try? ArchiveExtractor.validate(archiveAt: scratch, format: .tar, maxBytes: 1 << 20, maxEntries: 1000)
    }
    return 0
}

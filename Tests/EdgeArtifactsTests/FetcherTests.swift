#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import EdgeArtifacts

@Suite struct FetcherTests {
    @Test func fileURICopies() throws {
        let directory = TemporaryDirectory()
        makeFile(directory.sub("source file"), "local bytes")
        let destination = directory.sub("out")
        try Fetcher.fetch(uri: "file://" + directory.sub("source%20file"), to: destination, maxBytes: 100, timeoutSeconds: 5)
        #expect(readText(destination) == "local bytes")
        #expect(permissions(destination) == 0o600)
    }

    @Test func fileURIOverLimitLeavesNothing() throws {
        let directory = TemporaryDirectory()
        makeFile(directory.sub("big"), String(repeating: "x", count: 200))
        let message = errorMessage {
            try Fetcher.fetch(uri: "file://" + directory.sub("big"), to: directory.sub("out"), maxBytes: 100, timeoutSeconds: 5)
        }
        #expect(message?.contains("limit of 100") == true)
        #expect(listDirectory(directory.path) == ["big"])
    }

    @Test func missingFileIsNamed() throws {
        let directory = TemporaryDirectory()
        let uri = "file://" + directory.sub("nope.bin")
        let message = errorMessage { try Fetcher.fetch(uri: uri, to: directory.sub("out"), maxBytes: 100, timeoutSeconds: 5) }
        #expect(message?.contains(directory.sub("nope.bin")) == true)
        #expect(message?.contains("does not exist") == true)
        #expect(listDirectory(directory.path).isEmpty)
    }

    @Test func dataURIs() throws {
        let directory = TemporaryDirectory()
        let out = directory.sub("out")
        try Fetcher.fetch(uri: "data:text/plain;base64,SGVsbG8sIFdvcmxkIQ==", to: out, maxBytes: 100, timeoutSeconds: 5)
        #expect(readText(out) == "Hello, World!")
        try Fetcher.fetch(uri: "data:;base64,AP8", to: out, maxBytes: 100, timeoutSeconds: 5)
        #expect(readBytes(out) == [0x00, 0xff])
        try Fetcher.fetch(uri: "data:,Hello%2C%20World%21%0A", to: out, maxBytes: 100, timeoutSeconds: 5)
        #expect(readText(out) == "Hello, World!\n")
        try Fetcher.fetch(uri: "DATA:text/plain;charset=utf-8,caf%C3%A9", to: out, maxBytes: 100, timeoutSeconds: 5)
        #expect(readText(out) == "café")

        #expect(errorMessage { try Fetcher.fetch(uri: "data:;base64,SGV*", to: out, maxBytes: 100, timeoutSeconds: 5) }?.contains("base64") == true)
        #expect(errorMessage { try Fetcher.fetch(uri: "data:nocomma", to: out, maxBytes: 100, timeoutSeconds: 5) }?.contains("data:nocomma") == true)
        #expect(errorMessage { try Fetcher.fetch(uri: "data:,%zz", to: out, maxBytes: 100, timeoutSeconds: 5) }?.contains("percent") == true)
        #expect(errorMessage { try Fetcher.fetch(uri: "data:,toolong", to: out, maxBytes: 3, timeoutSeconds: 5) }?.contains("limit of 3") == true)
    }

    @Test func unknownSchemeListsSupportedOnes() throws {
        let directory = TemporaryDirectory()
        let message = errorMessage {
            try Fetcher.fetch(uri: "ftp://example.com/a.tar", to: directory.sub("out"), maxBytes: 100, timeoutSeconds: 5)
        }
        #expect(message?.contains("ftp://example.com/a.tar") == true)
        #expect(message?.contains("http://") == true && message?.contains("https://") == true)
        #expect(message?.contains("file://") == true && message?.contains("data:") == true)
        #expect(listDirectory(directory.path).isEmpty)
    }

    @Test func httpAgainstLocalServer() throws {
        let directory = TemporaryDirectory()
        let served = directory.sub("served")
        mkdir(served, 0o755)
        var payload: [UInt8] = []
        for index in 0..<200_000 { payload.append(UInt8(truncatingIfNeeded: index * 7)) }
        writeBytes(served + "/artifact.bin", payload)

        let server = try HTTPTestServer(serving: served)
        defer { server.stop() }

        let out = directory.sub("out")
        try Fetcher.fetch(uri: server.url("artifact.bin"), to: out, maxBytes: 1 << 20, timeoutSeconds: 10)
        #expect(readBytes(out) == payload)

        let missing = server.url("missing.bin")
        let notFound = errorMessage { try Fetcher.fetch(uri: missing, to: out, maxBytes: 1 << 20, timeoutSeconds: 10) }
        #expect(notFound?.contains("404") == true)
        #expect(notFound?.contains(missing) == true)
        #expect(access(out, F_OK) != 0, "a failed fetch leaves no file")

        // http.server redirects a directory without its trailing slash (301) to its listing.
        mkdir(served + "/listing", 0o755)
        try Fetcher.fetch(uri: server.url("listing"), to: out, maxBytes: 1 << 20, timeoutSeconds: 10)
        #expect(readText(out)?.contains("Directory listing") == true)

        // TLS verification is on and the server speaks plain HTTP, so https must fail, naming the URI.
        let https = "https://127.0.0.1:\(server.port)/artifact.bin"
        let tlsFailure = errorMessage { try Fetcher.fetch(uri: https, to: out, maxBytes: 1 << 20, timeoutSeconds: 10) }
        #expect(tlsFailure?.contains(https) == true)

        let tooBig = errorMessage { try Fetcher.fetch(uri: server.url("artifact.bin"), to: out, maxBytes: 1000, timeoutSeconds: 10) }
        #expect(tooBig?.contains("limit of 1000") == true)
        #expect(access(out, F_OK) != 0)
    }
}

/// `python3 -m http.server` on 127.0.0.1 and a free port, stopped explicitly.
struct HTTPTestServer {
    let port: UInt16
    let pid: pid_t

    struct NotListening: Error {}

    init(serving directory: String) throws {
        port = freePort()
        pid = startProcess(["/usr/bin/python3", "-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", directory])
        guard waitUntilListening(port: port) else {
            kill(pid, SIGTERM)
            _ = waitForExit(pid)
            throw NotListening()
        }
    }

    func url(_ name: String) -> String { "http://127.0.0.1:\(port)/\(name)" }

    func stop() {
        kill(pid, SIGTERM)
        _ = waitForExit(pid)
    }
}

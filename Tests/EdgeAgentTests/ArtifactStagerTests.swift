#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import EdgeAgent
import EdgeArtifacts
@testable import EdgeCore
import EdgePOSIX

/// Staging on the real filesystem: a file artifact is linked from the content store when the
/// function cannot write to it, copied otherwise.
@Suite struct ArtifactStagerTests {
    private func makeFolder() throws -> String {
        var template = Array("/tmp/edge-stager-XXXXXX".utf8CString)
        let made = try #require(mkdtemp(&template), "mkdtemp: \(Errno.current)")
        return String(cString: made)
    }

    private func remove(_ folder: String) {
        do { try Files.removeTree(folder) } catch { Issue.record("cannot remove \(folder): \(error)") }
    }

    private func spec(user: String?, data: String, digest: String) -> FunctionSpec {
        FunctionSpec(
            name: "f", version: "1", entry: .command(["data.bin"]),
            artifacts: [ArtifactSpec(uri: "file://\(data)", sha256: digest, unarchive: .none, name: "data.bin")], lifecycle: .longLived,
            concurrency: 1, timeoutMs: 3000, startTimeoutMs: 30_000, stopTimeoutMs: 3000, idleTimeoutMs: 60_000,
            queueSize: 100, limits: ResourceLimits(), environment: [:], config: [:], subscriptions: [],
            output: .init(topic: "edge/things/dev1/functions/f/results", qos: 1), publish: [], user: user,
            restart: RestartPolicy(maxFailures: 3, backoffMs: 500, maxBackoffMs: 30_000))
    }

    private func staged(user: String?) throws -> (file: FileStatus, blob: FileStatus, folder: String) {
        let folder = try makeFolder()
        let data = "\(folder)/source.bin"
        let bytes = Array("#!/bin/sh\necho hello\n".utf8)
        try Files.writeAtomically(data, bytes, mode: 0o644)
        let digest = SHA256.hex(of: bytes)
        let stager = ArtifactStager(stateDir: "\(folder)/state")
        let directories = try stager.stage([spec(user: user, data: data, digest: digest)]).get()
        let file = try Files.status("\(directories["f"]!)/data.bin", followingLinks: false)
        let blob = try Files.status(ContentStore(root: stager.storeDir).path(forDigest: digest), followingLinks: false)
        return (file, blob, folder)
    }

    @Test func aFunctionOfAnotherUserGetsALinkToTheReadOnlyBlob() throws {
        // nobody: on every Linux system, never root and never the one running the tests.
        try #require(Users.lookup("nobody") != nil && geteuid() != Users.lookup("nobody")!.uid)
        let (file, blob, folder) = try staged(user: "nobody")
        defer { remove(folder) }
        #expect(file.inode == blob.inode, "the function's file is not the store's blob")
        #expect(file.permissions & 0o7777 == 0o555, "a command linked from the store must be read-only and executable")
        #expect(file.linkCount == 2)
    }

    @Test func aFunctionRunningAsTheAgentsUserGetsACopy() throws {
        let (file, blob, folder) = try staged(user: Users.isRoot ? "root" : nil)
        defer { remove(folder) }
        #expect(file.inode != blob.inode, "a function that may write as the agent's user was given the store's blob")
        #expect(file.permissions & 0o7777 == 0o755)
        #expect(blob.permissions & 0o7777 == 0o600, "the blob was opened up although nothing links to it")
    }

    @Test(.enabled(if: geteuid() == 0, "only an agent running as root gives functions uids of their own"))
    func aFunctionWithAUidOfItsOwnGetsALinkWhenTheAgentIsRoot() throws {
        // No user named, the agent root: admission named no user because the function has a uid of its own.
        let (file, blob, folder) = try staged(user: nil)
        defer { remove(folder) }
        #expect(file.inode == blob.inode, "a function under a uid of its own cannot write the blob: it should be linked")
    }
}

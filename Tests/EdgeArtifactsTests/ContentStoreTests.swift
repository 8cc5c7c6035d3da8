#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import EdgeArtifacts

@Suite struct ContentStoreTests {
    @Test func ensureFetchesOnceThenReuses() throws {
        let directory = TemporaryDirectory()
        let store = try ContentStore(root: directory.sub("store/nested"))
        #expect(permissions(directory.sub("store/nested/sha256")) == 0o700)

        let source = makeFile(directory.sub("artifact"), "artifact v1")
        let digest = SHA256.hex(of: Array("artifact v1".utf8))
        #expect(!store.contains(digest: digest))

        let first = try store.ensure(uri: "file://" + source, sha256: digest, maxBytes: 1000, timeoutSeconds: 5)
        #expect(first.fetched)
        #expect(first.path == store.path(forDigest: digest))
        #expect(readText(first.path) == "artifact v1")
        #expect(store.contains(digest: digest))

        // With the source gone, a second ensure can only succeed without touching the URI.
        unlink(source)
        let second = try store.ensure(uri: "file://" + source, sha256: digest, maxBytes: 1000, timeoutSeconds: 5)
        #expect(!second.fetched)
        #expect(second.path == first.path)
    }

    @Test func wrongDigestLeavesNothing() throws {
        let directory = TemporaryDirectory()
        let store = try ContentStore(root: directory.sub("store"))
        let wrong = String(repeating: "0", count: 64)
        let actual = SHA256.hex(of: Array("hello".utf8))
        let uri = "data:,hello"
        let message = errorMessage { _ = try store.ensure(uri: uri, sha256: wrong, maxBytes: 1000, timeoutSeconds: 5) }
        #expect(message?.contains(wrong) == true)
        #expect(message?.contains(actual) == true)
        #expect(message?.contains(uri) == true)
        #expect(listDirectory(directory.sub("store/sha256")).isEmpty)
    }

    @Test func malformedDigestIsNamed() throws {
        let directory = TemporaryDirectory()
        let store = try ContentStore(root: directory.sub("store"))
        let upper = String(repeating: "A", count: 64)
        let message = errorMessage { _ = try store.ensure(uri: "data:,x", sha256: upper, maxBytes: 10, timeoutSeconds: 5) }
        #expect(message?.contains(upper) == true)
        #expect(listDirectory(directory.sub("store/sha256")).isEmpty)
    }

    @Test func failedFetchLeavesNothing() throws {
        let directory = TemporaryDirectory()
        let store = try ContentStore(root: directory.sub("store"))
        let digest = SHA256.hex(of: Array("x".utf8))
        let message = errorMessage {
            _ = try store.ensure(uri: "file://" + directory.sub("absent"), sha256: digest, maxBytes: 10, timeoutSeconds: 5)
        }
        #expect(message?.contains(directory.sub("absent")) == true)
        #expect(listDirectory(directory.sub("store/sha256")).isEmpty)
    }

    @Test func garbageCollectionKeepsOnlyWhatIsAsked() throws {
        let directory = TemporaryDirectory()
        let store = try ContentStore(root: directory.sub("store"))
        var digests: [String] = []
        for text in ["one", "two", "three"] {
            let digest = SHA256.hex(of: Array(text.utf8))
            _ = try store.ensure(uri: "data:," + text, sha256: digest, maxBytes: 100, timeoutSeconds: 5)
            digests.append(digest)
        }
        // A temporary file from a crashed earlier process, and an unrelated file that must be left alone.
        makeFile(directory.sub("store/sha256/.tmp-999999999-1"), "partial")
        makeFile(directory.sub("store/sha256/README"), "not a blob")

        let removed = try store.collectGarbage(keeping: [digests[1]])
        #expect(removed == 2)
        #expect(listDirectory(directory.sub("store/sha256")) == ["README", digests[1]].sorted())
        #expect(try store.collectGarbage(keeping: [digests[1]]) == 0)
    }

    @Test func storeIsUsableFromConcurrentTasks() async throws {
        let directory = TemporaryDirectory()
        let store = try ContentStore(root: directory.sub("store"))
        let digest = SHA256.hex(of: Array("shared".utf8))
        let results = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<8 {
                group.addTask { try store.ensure(uri: "data:,shared", sha256: digest, maxBytes: 100, timeoutSeconds: 5).path }
            }
            var paths: [String] = []
            for try await path in group { paths.append(path) }
            return paths
        }
        #expect(Set(results) == [store.path(forDigest: digest)])
        #expect(listDirectory(directory.sub("store/sha256")) == [digest])
    }
}

import Testing
@testable import EdgeArtifacts

@Suite struct SHA256Tests {
    @Test func knownVectors() {
        #expect(SHA256.hex(of: []) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(of: Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func fileDigestStreamsAcrossChunks() throws {
        let directory = TemporaryDirectory()
        let path = directory.sub("million-a")
        writeBytes(path, [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))
        #expect(try SHA256.hex(ofFileAt: path) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func missingFileNamesThePath() {
        let message = errorMessage { _ = try SHA256.hex(ofFileAt: "/nonexistent/blob") }
        #expect(message?.contains("/nonexistent/blob") == true)
    }

    @Test func digestShapeCheck() {
        #expect(SHA256.isValidHex(String(repeating: "a", count: 64)))
        #expect(!SHA256.isValidHex(String(repeating: "A", count: 64)))
        #expect(!SHA256.isValidHex(String(repeating: "a", count: 63)))
    }
}

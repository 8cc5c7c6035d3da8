import Testing
@testable import EdgeArtifacts

@Suite struct GzipTests {
    @Test func roundTripAgainstPythonGzip() throws {
        let directory = TemporaryDirectory()
        var original: [UInt8] = []
        for index in 0..<300_000 { original.append(UInt8(truncatingIfNeeded: index &* 31 &+ index / 7)) }
        writeBytes(directory.sub("plain"), original)
        // Two members, as `cat a.gz b.gz` would produce; gzip(1) and Python accept that.
        let script = """
        import gzip, sys
        data = open(sys.argv[1], "rb").read()
        open(sys.argv[2], "wb").write(gzip.compress(data[:1000]) + gzip.compress(data[1000:]))
        """
        #expect(python(script, directory.sub("plain"), directory.sub("plain.gz")) == 0)
        let compressed = try #require(readBytes(directory.sub("plain.gz")))
        #expect(Gzip.isGzip(compressed))
        #expect(!Gzip.isGzip(original))
        #expect(try Gzip.decompress(compressed, maxOutputBytes: 1 << 20) == original)
    }

    @Test func bombIsCapped() throws {
        let directory = TemporaryDirectory()
        let script = "import gzip, sys; open(sys.argv[1], 'wb').write(gzip.compress(bytes(50_000_000)))"
        #expect(python(script, directory.sub("bomb.gz")) == 0)
        let compressed = try #require(readBytes(directory.sub("bomb.gz")))
        #expect(compressed.count < 100_000)
        let message = errorMessage { _ = try Gzip.decompress(compressed, maxOutputBytes: 1_000_000) }
        #expect(message?.contains("limit of 1000000 bytes") == true)
    }

    @Test func corruptAndTruncatedInputFail() throws {
        let directory = TemporaryDirectory()
        #expect(python("import gzip, sys; open(sys.argv[1], 'wb').write(gzip.compress(b'hello ' * 1000))", directory.sub("x.gz")) == 0)
        let compressed = try #require(readBytes(directory.sub("x.gz")))
        let truncated = Array(compressed.prefix(compressed.count / 2))
        #expect(errorMessage { _ = try Gzip.decompress(truncated, maxOutputBytes: 1 << 20) }?.contains("truncated") == true)
        #expect(errorMessage { _ = try Gzip.decompress(compressed + [1, 2, 3], maxOutputBytes: 1 << 20) }?.contains("trailing") == true)
        #expect(errorMessage { _ = try Gzip.decompress(Array("plain".utf8), maxOutputBytes: 1 << 20) }?.contains("not gzip") == true)
    }
}

import Testing
@testable import EdgeArtifacts

@Suite struct TarReaderTests {
    @Test func readsBuiltArchive() throws {
        var tar = TarBuilder()
        tar.directory("dir/")
        tar.file("dir/hello.txt", "hello world", mode: 0o640)
        tar.symlink("dir/link", to: "hello.txt")
        tar.entry("dir/hard", type: "1", link: "dir/hello.txt")
        tar.entry("dev", type: "3")
        let bytes = tar.archive
        let entries = try TarReader.entries(in: bytes)
        #expect(entries.map(\.path) == ["dir/", "dir/hello.txt", "dir/link", "dir/hard", "dev"])
        guard entries.count == 5 else { return }
        #expect({ if case .directory = entries[0].kind { true } else { false } }())
        #expect({ if case .file = entries[1].kind { true } else { false } }())
        #expect(entries[1].mode == 0o640)
        #expect(entries[1].size == 11)
        #expect(Array(bytes[entries[1].dataOffset..<(entries[1].dataOffset + 11)]) == Array("hello world".utf8))
        #expect({ if case .symlink(let target) = entries[2].kind { target == "hello.txt" } else { false } }())
        #expect({ if case .hardlink(let target) = entries[3].kind { target == "dir/hello.txt" } else { false } }())
        #expect({ if case .other(let flag) = entries[4].kind { flag == UInt8(ascii: "3") } else { false } }())
    }

    @Test func badChecksumIsRejected() {
        var tar = TarBuilder()
        tar.file("a.txt", "x")
        var bytes = tar.archive
        bytes[0] = UInt8(ascii: "b")
        let message = errorMessage { _ = try TarReader.entries(in: bytes) }
        #expect(message?.contains("checksum") == true)
    }

    @Test func truncationIsRejected() {
        var tar = TarBuilder()
        tar.file("a.txt", String(repeating: "x", count: 2000))
        let cut = Array(tar.archive.prefix(1024))
        #expect(errorMessage { _ = try TarReader.entries(in: cut) }?.contains("truncated") == true)
        let noEnd = tar.bytes
        #expect(errorMessage { _ = try TarReader.entries(in: noEnd) }?.contains("truncated") == true)
        #expect(errorMessage { _ = try TarReader.entries(in: []) } != nil)
    }

    @Test func pythonPaxGnuAndUstarLongNames() throws {
        let directory = TemporaryDirectory()
        let longPax = String(repeating: "p", count: 60) + "/" + String(repeating: "q", count: 90) + "/pax-file.txt"
        let longGnu = String(repeating: "g", count: 150) + ".txt"
        let longLink = String(repeating: "t", count: 130)
        let splitUstar = String(repeating: "d", count: 80) + "/" + String(repeating: "f", count: 60)
        let script = """
        import io, sys, tarfile
        def add(tar, name, data=b"", link=None):
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = link
            else:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as tar:
            add(tar, sys.argv[4], b"pax")
        with tarfile.open(sys.argv[2], "w", format=tarfile.GNU_FORMAT) as tar:
            add(tar, sys.argv[5], b"gnu")
            add(tar, "short-link", link=sys.argv[6])
        with tarfile.open(sys.argv[3], "w", format=tarfile.USTAR_FORMAT) as tar:
            add(tar, sys.argv[7], b"ustar")
        """
        let pax = directory.sub("pax.tar"), gnu = directory.sub("gnu.tar"), ustar = directory.sub("ustar.tar")
        #expect(python(script, pax, gnu, ustar, longPax, longGnu, longLink, splitUstar) == 0)

        let paxEntries = try TarReader.entries(in: try #require(readBytes(pax)))
        #expect(paxEntries.map(\.path) == [longPax])

        let gnuBytes = try #require(readBytes(gnu))
        let gnuEntries = try TarReader.entries(in: gnuBytes)
        #expect(gnuEntries.map(\.path) == [longGnu, "short-link"])
        if gnuEntries.count == 2 {
            let data = gnuBytes[gnuEntries[0].dataOffset..<(gnuEntries[0].dataOffset + gnuEntries[0].size)]
            #expect(Array(data) == Array("gnu".utf8))
            #expect({ if case .symlink(let target) = gnuEntries[1].kind { target == longLink } else { false } }())
        }

        let ustarEntries = try TarReader.entries(in: try #require(readBytes(ustar)))
        #expect(ustarEntries.map(\.path) == [splitUstar])
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import EdgeArtifacts

/// Unpacking streams: a large member is written in pieces, the caps hold per archive, and the
/// disk's free space is checked before anything is written.
@Suite struct ArchiveStreamingTests {
    @Test func aLargeGzipMemberIsUnpackedWholeAndMatches() throws {
        let directory = TemporaryDirectory()
        let archive = directory.sub("big.tar.gz")
        // 48 MiB of a repeating pattern: many 64 KiB pieces, and a gzip stream of several reads.
        let script = """
        import io, sys, tarfile
        data = bytes(range(256)) * (48 * 4096)
        with tarfile.open(sys.argv[1], "w:gz") as tar:
            info = tarfile.TarInfo("model.bin"); info.size = len(data); info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
            info = tarfile.TarInfo("after.txt"); info.size = 2; info.mode = 0o644
            tar.addfile(info, io.BytesIO(b"ok"))
        """
        #expect(python(script, archive) == 0)
        let root = directory.sub("root")
        mkdir(root, 0o755)
        let unpacked = try ArchiveExtractor.extract(archiveAt: archive, format: .tarGz, into: root, maxBytes: 64 << 20)
        #expect(unpacked.bytes == 48 << 20 + 2 && unpacked.entries == 2)
        var info = stat()
        #expect(stat(root + "/model.bin", &info) == 0 && Int(info.st_size) == 48 << 20)
        #expect(readText(root + "/after.txt") == "ok", "the entry after a large one is found in the stream")
    }

    @Test func tooManyEntriesAreRefusedBeforeAnythingIsWritten() throws {
        let directory = TemporaryDirectory()
        var tar = TarBuilder()
        for index in 0..<5 { tar.file("f\(index)", "x") }
        let archive = directory.sub("many.tar")
        writeBytes(archive, tar.bytes + [UInt8](repeating: 0, count: 1024))
        let root = directory.sub("root")
        mkdir(root, 0o755)
        let message = errorMessage { try ArchiveExtractor.extract(archiveAt: archive, format: .tar, into: root, maxBytes: 1 << 20, maxEntries: 3) }
        #expect(message?.contains("more than the limit of 3") == true, "\(message ?? "no error")")
        #expect(listDirectory(root).isEmpty)
    }

    @Test func notEnoughSpaceIsSaidWithWhatIsNeededAndWhatThereIs() {
        let message = errorMessage { try FreeSpace.check("/tmp", bytes: 1 << 60, entries: 1) }
        #expect(message?.contains("not enough space in /tmp to unpack: need ") == true, "\(message ?? "no error")")
        #expect(message?.contains(", have ") == true)
        #expect(errorMessage { try FreeSpace.check("/tmp", bytes: 1, entries: 1) } == nil)
    }

    @Test func aTruncatedGzipArchiveSaysSo() throws {
        let directory = TemporaryDirectory()
        let archive = directory.sub("cut.tar.gz")
        let script = """
        import io, sys, tarfile
        data = bytes(range(256)) * 4096
        with tarfile.open(sys.argv[1], "w:gz") as tar:
            info = tarfile.TarInfo("a.bin"); info.size = len(data); tar.addfile(info, io.BytesIO(data))
        whole = open(sys.argv[1], "rb").read()
        open(sys.argv[1], "wb").write(whole[: len(whole) // 2])
        """
        #expect(python(script, archive) == 0)
        let root = directory.sub("root")
        mkdir(root, 0o755)
        let message = errorMessage { try ArchiveExtractor.extract(archiveAt: archive, format: .tarGz, into: root, maxBytes: 1 << 20) }
        #expect(message?.contains("truncated") == true, "\(message ?? "no error")")
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import EdgeArtifacts

@Suite struct ArchiveExtractorTests {
    @Test func normalTreeFromPythonTarGz() throws {
        let directory = TemporaryDirectory()
        let script = """
        import io, sys, tarfile
        def add(tar, name, kind, mode, data=b"", link=""):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.linkname, info.size = kind, mode, link, len(data)
            tar.addfile(info, io.BytesIO(data))
        with tarfile.open(sys.argv[1], "w:gz") as tar:
            add(tar, "./", tarfile.DIRTYPE, 0o755)
            add(tar, "./bin", tarfile.DIRTYPE, 0o755)
            add(tar, "./bin/run", tarfile.REGTYPE, 0o755, b"#!/bin/sh\\necho hi\\n")
            add(tar, "./bin/suid", tarfile.REGTYPE, 0o4777, b"s")
            add(tar, "./etc/config.json", tarfile.REGTYPE, 0o600, b'{"a": 1}')
            add(tar, "./bin/config", tarfile.SYMTYPE, 0o777, link="../etc/config.json")
            add(tar, "./empty", tarfile.DIRTYPE, 0o700)
        """
        let archive = directory.sub("app.tar.gz")
        #expect(python(script, archive) == 0)
        let root = directory.sub("root")
        mkdir(root, 0o755)

        // Declared as .tar: gzip is recognised by its magic bytes.
        try ArchiveExtractor.extract(archiveAt: archive, format: .tar, into: root, maxBytes: 1 << 20)

        #expect(listDirectory(root) == ["bin", "empty", "etc"])
        #expect(readText(root + "/bin/run") == "#!/bin/sh\necho hi\n")
        #expect(permissions(root + "/bin/run") == 0o755)
        #expect(permissions(root + "/bin/suid") == 0o755)
        #expect(permissions(root + "/etc/config.json") == 0o600)
        #expect(permissions(root + "/etc") == 0o755)
        #expect(permissions(root + "/empty") == 0o700)
        #expect(isSymlink(root + "/bin/config"))
        #expect(symlinkTarget(root + "/bin/config") == "../etc/config.json")
        #expect(readText(root + "/bin/config") == "{\"a\": 1}")
    }

    @Test func declaredTarGzThatIsPlainTarFails() throws {
        let directory = TemporaryDirectory()
        var tar = TarBuilder()
        tar.file("a", "x")
        writeBytes(directory.sub("a.tar"), tar.archive)
        mkdir(directory.sub("root"), 0o755)
        let message = errorMessage {
            try ArchiveExtractor.extract(archiveAt: directory.sub("a.tar"), format: .tarGz, into: directory.sub("root"), maxBytes: 1000)
        }
        #expect(message?.contains("not gzip") == true)
    }

    @Test func sizeLimitIsEnforced() throws {
        let directory = TemporaryDirectory()
        var tar = TarBuilder()
        tar.file("small", String(repeating: "a", count: 600))
        tar.file("big", String(repeating: "b", count: 600))
        writeBytes(directory.sub("a.tar"), tar.archive)
        mkdir(directory.sub("root"), 0o755)
        let message = errorMessage {
            try ArchiveExtractor.extract(archiveAt: directory.sub("a.tar"), format: .tar, into: directory.sub("root"), maxBytes: 1000)
        }
        #expect(message?.contains("\"big\"") == true)
        #expect(listDirectory(directory.sub("root")).isEmpty)
    }

    /// Each archive must be refused with a message naming `culprit`, and leave nothing behind anywhere.
    @Test(arguments: [
        ("parent escape", "../evil"),
        ("absolute path", "/tmp/edge-artifacts-absolute-evil"),
        ("symlink out", "ln"),
        ("absolute symlink", "abs"),
        ("absolute symlink, then a file through it", "link/x"),
        ("file through an in-archive symlink", "l/x"),
        ("symlink through another symlink", "l2"),
        ("hard link", "hard"),
        ("character device", "dev/tty0"),
        ("FIFO", "pipe"),
    ])
    func hostileEntryIsRejected(case name: String, culprit: String) throws {
        let directory = TemporaryDirectory()
        var tar = TarBuilder()
        tar.file("innocent.txt", "fine")
        switch name {
        case "parent escape": tar.file("../evil", "pwned")
        case "absolute path": tar.file("/tmp/edge-artifacts-absolute-evil", "pwned")
        case "symlink out": tar.symlink("ln", to: "../../etc")
        case "absolute symlink": tar.symlink("abs", to: "/etc")
        case "absolute symlink, then a file through it":
            tar.symlink("link", to: directory.path)
            tar.file("link/x", "pwned")
        case "file through an in-archive symlink":
            tar.directory("sub/")
            tar.symlink("l", to: "sub")
            tar.file("l/x", "pwned")
        case "symlink through another symlink":
            tar.symlink("a/l1", to: "..")
            tar.symlink("l2", to: "a/l1/..")
        case "hard link": tar.entry("hard", type: "1", link: "innocent.txt")
        case "character device": tar.entry("dev/tty0", type: "3")
        case "FIFO": tar.entry("pipe", type: "6")
        default: Issue.record("unknown case \(name)")
        }
        let archive = directory.sub("archive.tar")
        writeBytes(archive, tar.archive)
        let root = directory.sub("root")
        mkdir(root, 0o755)

        let message = errorMessage {
            try ArchiveExtractor.extract(archiveAt: archive, format: .tar, into: root, maxBytes: 1 << 20)
        }
        #expect(message?.contains("\"\(culprit)\"") == true, "\(name): \(message ?? "no error")")
        #expect(message?.contains(archive) == true)
        #expect(listDirectory(directory.path) == ["archive.tar", "root"])
        // Validation happens before writing, so even the innocent entry was not written.
        #expect(listDirectory(root).isEmpty)
        #expect(access("/tmp/edge-artifacts-absolute-evil", F_OK) != 0)
    }

    /// The root may already hold things (e.g. a symlink planted by someone else): never descend into them.
    @Test func preexistingEntriesInRootAreNotFollowed() throws {
        let directory = TemporaryDirectory()
        let outside = directory.sub("outside")
        mkdir(outside, 0o755)
        let root = directory.sub("root")
        mkdir(root, 0o755)
        symlink(outside, root + "/planted")
        mkdir(root + "/existing", 0o755)

        for target in ["planted/x", "existing/x"] {
            var tar = TarBuilder()
            tar.file(target, "pwned")
            let archive = directory.sub("a.tar")
            writeBytes(archive, tar.archive)
            let message = errorMessage {
                try ArchiveExtractor.extract(archiveAt: archive, format: .tar, into: root, maxBytes: 1 << 20)
            }
            #expect(message?.contains("\"\(target)\"") == true, "\(message ?? "no error")")
        }
        #expect(listDirectory(outside).isEmpty)
        #expect(listDirectory(root + "/existing").isEmpty)
    }

    @Test func duplicateFileIsRejected() throws {
        let directory = TemporaryDirectory()
        var tar = TarBuilder()
        tar.file("a", "one")
        tar.file("./a", "two")
        writeBytes(directory.sub("a.tar"), tar.archive)
        mkdir(directory.sub("root"), 0o755)
        let message = errorMessage {
            try ArchiveExtractor.extract(archiveAt: directory.sub("a.tar"), format: .tar, into: directory.sub("root"), maxBytes: 1000)
        }
        #expect(message?.contains("more than once") == true)
    }
}

import Testing
@testable import EdgeArtifacts

@Suite struct ArchivePathTests {
    @Test(arguments: [
        ("a/b", ["a", "b"]),
        ("./a/./b", ["a", "b"]),
        ("a//b", ["a", "b"]),
        ("dir/", ["dir"]),
        ("./", []),
    ])
    func accepts(raw: String, expected: [String]) throws {
        #expect(try ArchivePath.confined(raw) == expected)
    }

    @Test(arguments: ["/etc/passwd", "../x", "a/../../x", "a/../b", "..", "", "a\0b"])
    func rejects(raw: String) {
        let message = errorMessage { _ = try ArchivePath.confined(raw) }
        #expect(message != nil, "\(raw) should be rejected")
        if !raw.isEmpty {
            #expect(message?.contains(raw.replacingNULs()) == true, "message should name the entry: \(message ?? "")")
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import EdgePOSIX

/// Fetches the bytes behind an artifact URI into a file: file:///abs/path (local copy), http:// and https://
/// (libcurl: follow redirects up to 5, fail on HTTP >= 400 with the status in the message, connect timeout 10 s,
/// overall timeout given, TLS verification ON, size cap), and data: URIs (RFC 2397: `data:[<mediatype>][;base64],<data>`,
/// percent-decoding for non-base64). Any other scheme: error naming the URI and listing the supported schemes.
public enum Fetcher {
    /// Writes the artifact to `path` (created or truncated, mode 0600). On failure the partial file is removed.
    public static func fetch(uri: String, to path: String, maxBytes: Int, timeoutSeconds: Int) throws(ArtifactError) {
        guard maxBytes >= 0, timeoutSeconds > 0 else {
            throw ArtifactError("cannot fetch \(URIText.display(uri)): maxBytes must be >= 0 and timeoutSeconds > 0 (got \(maxBytes), \(timeoutSeconds))")
        }
        let scheme = schemeOf(uri)
        switch scheme {
        case "data":
            // Decode first, so a malformed URI leaves no file behind.
            let bytes = try DataURI.decode(uri, maxBytes: maxBytes)
            try writingOutput(path) { (output) throws(ArtifactError) in
                try bytes.withUnsafeBufferPointer { (buffer) throws(ArtifactError) in
                    try writeAll(output, UnsafeRawBufferPointer(buffer), path: path)
                }
            }
        case "file":
            let source = try localPath(ofFileURI: uri)
            try writingOutput(path) { (output) throws(ArtifactError) in
                try copyFile(from: source, uri: uri, into: output, path: path, maxBytes: maxBytes)
            }
        case "http", "https":
            try writingOutput(path) { (output) throws(ArtifactError) in
                try HTTPFetcher.fetch(uri: uri, into: output, path: path, maxBytes: maxBytes, timeoutSeconds: timeoutSeconds)
            }
        default:
            throw ArtifactError("cannot fetch \(URIText.display(uri)): unsupported URI scheme \"\(scheme)\"; supported are file:///absolute/path, http://, https:// and data:")
        }
    }

    /// The lowercased scheme, or "" when the URI has none.
    private static func schemeOf(_ uri: String) -> String {
        guard let colon = uri.firstIndex(of: ":") else { return "" }
        return uri[..<colon].lowercased()
    }

    /// Opens `path` for writing, runs `body`, closes; removes the file if anything failed.
    private static func writingOutput(_ path: String, _ body: (borrowing FileDescriptor) throws(ArtifactError) -> Void) throws(ArtifactError) {
        let file = try openFile(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode: 0o600, purpose: "writing the fetched artifact")
        do {
            try body(file)
            try closeWritten(file, path)
        } catch {
            throw discardingPartial(path, after: error)
        }
    }

    /// file:///abs/path or file://localhost/abs/path, percent-decoded (RFC 8089).
    private static func localPath(ofFileURI uri: String) throws(ArtifactError) -> String {
        var rest = uri.utf8.dropFirst(5) // "file:"
        guard rest.starts(with: "//".utf8) else {
            throw ArtifactError("file URI \(uri) must have the form file:///absolute/path")
        }
        rest = rest.dropFirst(2)
        if rest.starts(with: "localhost/".utf8) { rest = rest.dropFirst(9) }
        guard rest.first == UInt8(ascii: "/") else {
            throw ArtifactError("file URI \(uri) names a remote host or a relative path; use file:///absolute/path")
        }
        let bytes = try URIText.percentDecoded(rest, in: uri)
        if bytes.contains(0) {
            throw ArtifactError("file URI \(uri) decodes to a path containing a NUL byte")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func copyFile(from source: String, uri: String, into output: borrowing FileDescriptor, path: String, maxBytes: Int) throws(ArtifactError) {
        let input = try openSource(source, uri: uri)
        let info = try status(of: input, source)
        guard info.kind == .regular else {
            throw ArtifactError("cannot fetch \(uri): \(source) is not a regular file")
        }
        guard info.size <= maxBytes else {
            throw ArtifactError("cannot fetch \(uri): \(source) is \(info.size) bytes, more than the limit of \(maxBytes)")
        }
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { chunk.deallocate() }
        var copied = 0
        while true {
            let count = try readSome(input, chunk, path: source)
            if count == 0 { return }
            // The source may grow while being copied; keep the cap exact.
            guard count <= maxBytes - copied else {
                throw ArtifactError("cannot fetch \(uri): \(source) grew past the limit of \(maxBytes) bytes while being copied")
            }
            try writeAll(output, UnsafeRawBufferPointer(rebasing: chunk[0..<count]), path: path)
            copied += count
        }
    }

    /// The file behind a file: URI, opened for reading.
    private static func openSource(_ source: String, uri: String) throws(ArtifactError) -> FileDescriptor {
        do {
            // O_NONBLOCK so that a FIFO at that path cannot hang the open; it is then refused as not regular.
            return try FileDescriptor.open(source, O_RDONLY | O_NONBLOCK)
        } catch where error.errno == .noSuchFileOrDirectory {
            throw ArtifactError("cannot fetch \(uri): the file \(source) does not exist; check the path")
        } catch {
            throw ArtifactError("cannot fetch \(uri)", error)
        }
    }
}

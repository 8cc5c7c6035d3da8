#if canImport(Glibc)
import Glibc
#endif

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
            try writingOutput(path) { (fd) throws(ArtifactError) in
                try bytes.withUnsafeBufferPointer { (buffer) throws(ArtifactError) in
                    try writeAll(fd, UnsafeRawBufferPointer(buffer), path: path)
                }
            }
        case "file":
            let source = try localPath(ofFileURI: uri)
            try writingOutput(path) { (fd) throws(ArtifactError) in
                try copyFile(from: source, uri: uri, into: fd, path: path, maxBytes: maxBytes)
            }
        case "http", "https":
            try writingOutput(path) { (fd) throws(ArtifactError) in
                try HTTPFetcher.fetch(uri: uri, into: fd, path: path, maxBytes: maxBytes, timeoutSeconds: timeoutSeconds)
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
    private static func writingOutput(_ path: String, _ body: (Int32) throws(ArtifactError) -> Void) throws(ArtifactError) {
        let fd = try openFile(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode: 0o600, purpose: "writing the fetched artifact")
        do {
            try body(fd)
        } catch {
            closeAfterUse(fd)
            throw discardingPartial(path, after: error)
        }
        do {
            try closeChecked(fd, path)
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

    private static func copyFile(from source: String, uri: String, into fd: Int32, path: String, maxBytes: Int) throws(ArtifactError) {
        let input: Int32
        do {
            // O_NONBLOCK so that a FIFO at that path cannot hang the open; it is then refused as not regular.
            input = try retryingEINTR { open(source, O_RDONLY | O_NONBLOCK | O_CLOEXEC) }
        } catch {
            if error.code == ENOENT {
                throw ArtifactError("cannot fetch \(uri): the file \(source) does not exist; check the path")
            }
            throw ArtifactError("cannot fetch \(uri): cannot open \(source)", errno: error.code)
        }
        defer { closeAfterUse(input) }
        var info = stat()
        do {
            _ = try retryingEINTR { fstat(input, &info) }
        } catch {
            throw ArtifactError("cannot fetch \(uri): cannot stat \(source)", errno: error.code)
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw ArtifactError("cannot fetch \(uri): \(source) is not a regular file")
        }
        guard Int(info.st_size) <= maxBytes else {
            throw ArtifactError("cannot fetch \(uri): \(source) is \(info.st_size) bytes, more than the limit of \(maxBytes)")
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
            try writeAll(fd, UnsafeRawBufferPointer(rebasing: chunk[0..<count]), path: path)
            copied += count
        }
    }
}

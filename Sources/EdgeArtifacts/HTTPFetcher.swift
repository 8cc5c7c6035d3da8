#if canImport(Glibc)
import Glibc
#endif
import CCurl
import EdgePOSIX

/// Downloads http(s) URIs into an open file with libcurl, which is loaded on the first call (see CurlRuntime).
enum HTTPFetcher {
    static func fetch(uri: String, into output: borrowing FileDescriptor, path: String, maxBytes: Int, timeoutSeconds: Int) throws(ArtifactError) {
        // libcurl's callback reaches the output through the sink, which points at the borrowed
        // descriptor: the pointer is valid while this call, which owns the borrow, runs.
        try withUnsafePointer(to: output) { (output) throws(ArtifactError) in
            try transfer(uri: uri, into: output, path: path, maxBytes: maxBytes, timeoutSeconds: timeoutSeconds)
        }
    }

    private static func transfer(uri: String, into output: UnsafePointer<FileDescriptor>, path: String,
                                 maxBytes: Int, timeoutSeconds: Int) throws(ArtifactError) {
        let curl: CurlRuntime
        do {
            curl = try CurlRuntime.shared()
        } catch {
            throw ArtifactError("cannot fetch \(uri): \(error.description)")
        }
        guard let handle = curl.easyInit() else {
            throw ArtifactError("cannot fetch \(uri): libcurl could not create a transfer handle")
        }
        defer { curl.cleanup(handle) }

        let sink = WriteSink(uri: uri, output: output, path: path, maxBytes: maxBytes)
        let errorText = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        defer { errorText.deallocate() }
        errorText.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)

        func check(_ status: CURLcode, _ option: String) throws(ArtifactError) {
            guard status == CURLE_OK else {
                throw ArtifactError("cannot fetch \(uri): libcurl rejected option \(option): \(curl.describe(status))")
            }
        }
        // libcurl copies string options, so the C strings only need to live for the call.
        try check(uri.withCString { curl.set(handle, CURLOPT_URL, $0) }, "URL")
        try check(curl.set(handle, CURLOPT_NOSIGNAL, 1), "NOSIGNAL") // no SIGALRM tricks in a threaded daemon
        try check(curl.set(handle, CURLOPT_FOLLOWLOCATION, 1), "FOLLOWLOCATION")
        try check(curl.set(handle, CURLOPT_MAXREDIRS, 5), "MAXREDIRS")
        try check(curl.set(handle, CURLOPT_FAILONERROR, 1), "FAILONERROR")
        try check(curl.set(handle, CURLOPT_CONNECTTIMEOUT, 10), "CONNECTTIMEOUT")
        try check(curl.set(handle, CURLOPT_TIMEOUT, timeoutSeconds), "TIMEOUT")
        try check(curl.set(handle, CURLOPT_SSL_VERIFYPEER, 1), "SSL_VERIFYPEER")
        try check(curl.set(handle, CURLOPT_SSL_VERIFYHOST, 2), "SSL_VERIFYHOST")
        try check(curl.set(handle, CURLOPT_MAXFILESIZE_LARGE, offset: Int64(maxBytes)), "MAXFILESIZE_LARGE")
        try check("edge-agent".withCString { curl.set(handle, CURLOPT_USERAGENT, $0) }, "USERAGENT")
        try check(curl.set(handle, CURLOPT_ERRORBUFFER, UnsafeRawPointer(errorText)), "ERRORBUFFER")
        // Redirects must not reach file:// or other schemes. Older libcurl (< 7.85) lacks these options but
        // already limits redirects to http/https/ftp by default, so "unknown option" is tolerated.
        for (option, name) in [(CURLOPT_PROTOCOLS_STR, "PROTOCOLS_STR"), (CURLOPT_REDIR_PROTOCOLS_STR, "REDIR_PROTOCOLS_STR")] {
            let status = "http,https".withCString { curl.set(handle, option, $0) }
            if status != CURLE_UNKNOWN_OPTION { try check(status, name) }
        }
        try check(curl.set(handle, CURLOPT_WRITEFUNCTION, writeToSink), "WRITEFUNCTION")
        let sinkPointer = Unmanaged.passUnretained(sink).toOpaque()
        try check(curl.set(handle, CURLOPT_WRITEDATA, UnsafeRawPointer(sinkPointer)), "WRITEDATA")

        let result = withExtendedLifetime(sink) { curl.perform(handle) }
        if let error = sink.error { throw error }

        var status: CLong = 0
        let statusKnown = curl.get(handle, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK
        let detail = String(cString: errorText)
        switch result {
        case CURLE_OK:
            // A final 1xx/3xx (e.g. a redirect without Location) is not the artifact either.
            if statusKnown && !(200..<300).contains(status) {
                throw ArtifactError("fetching \(uri) failed: the server answered HTTP \(status) instead of the artifact; check the URI")
            }
        case CURLE_HTTP_RETURNED_ERROR:
            let shown = statusKnown ? "HTTP \(status)" : detail
            throw ArtifactError("fetching \(uri) failed: the server answered \(shown); check that the URI is right and the artifact is published")
        case CURLE_OPERATION_TIMEDOUT:
            throw ArtifactError("fetching \(uri) timed out after \(timeoutSeconds) s (\(detail)); check the network or raise the timeout")
        case CURLE_FILESIZE_EXCEEDED:
            throw ArtifactError("fetching \(uri) failed: the artifact is larger than the limit of \(maxBytes) bytes")
        case CURLE_TOO_MANY_REDIRECTS:
            throw ArtifactError("fetching \(uri) failed: more than 5 redirects; point the URI at the final location")
        default:
            let reason = curl.describe(result)
            throw ArtifactError("fetching \(uri) failed: \(reason)\(detail.isEmpty ? "" : " (\(detail))"); check the URI, the network and the server's TLS certificate")
        }
    }
}

/// Where libcurl's write callback puts the body; it also remembers why a write was refused.
private final class WriteSink {
    let uri: String
    /// The output file, borrowed for the transfer: the sink lives no longer than that.
    let output: UnsafePointer<FileDescriptor>
    let path: String
    let maxBytes: Int
    var written = 0
    var error: ArtifactError?

    init(uri: String, output: UnsafePointer<FileDescriptor>, path: String, maxBytes: Int) {
        self.uri = uri
        self.output = output
        self.path = path
        self.maxBytes = maxBytes
    }

    /// Returns false (making libcurl abort) when the data doesn't fit or can't be written.
    func accept(_ data: UnsafeRawBufferPointer) -> Bool {
        guard data.count <= maxBytes - written else {
            error = ArtifactError("fetching \(uri) failed: the artifact is larger than the limit of \(maxBytes) bytes; raise the limit or check the URI")
            return false
        }
        do {
            try writeAll(output.pointee, data, path: path)
        } catch {
            self.error = error
            return false
        }
        written += data.count
        return true
    }
}

/// libcurl write callback; any return value other than the byte count aborts the transfer.
private let writeToSink: CurlRuntime.WriteCallback = { data, size, count, context in
    guard let context else { return 0 }
    let sink = Unmanaged<WriteSink>.fromOpaque(context).takeUnretainedValue()
    let total = size * count
    let buffer = UnsafeRawBufferPointer(start: data.map { UnsafeRawPointer($0) }, count: total)
    return sink.accept(buffer) ? total : 0
}

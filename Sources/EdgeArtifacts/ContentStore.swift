#if canImport(Glibc)
import Glibc
#endif
import EdgePOSIX

/// A content-addressed store of verified artifacts: <root>/sha256/<hex>. A blob is written to a temporary file in
/// the store, its SHA-256 checked against the expected digest, fsync'd, then renamed into place, so a present blob
/// is always complete and verified. An unchanged artifact is never fetched twice.
public final class ContentStore: Sendable {
    private let blobDirectory: String

    /// Creates <root>/sha256 (mkdir -p, mode 0700) if needed.
    public init(root: String) throws(ArtifactError) {
        guard !root.isEmpty else { throw ArtifactError("content store root must not be empty") }
        blobDirectory = (root.hasSuffix("/") ? String(root.dropLast()) : root) + "/sha256"
        try makeDirectories(blobDirectory, mode: 0o700)
    }

    /// Where the blob with this digest lives (whether or not it is present).
    public func path(forDigest sha256: String) -> String {
        blobDirectory + "/" + sha256
    }

    /// Whether a blob with this digest is present; malformed digests are never present.
    public func contains(digest sha256: String) -> Bool {
        guard SHA256.isValidHex(sha256) else { return false }
        do {
            return try Files.status(path(forDigest: sha256), followingLinks: false).kind == .regular
        } catch {
            // Normally ENOENT. Any other failure also reads as absent: ensure then fetches, and a real
            // I/O problem surfaces there with its errno.
            return false
        }
    }

    /// Returns the blob's path; `fetched` is false when it was already in the store (then no I/O on the URI at all).
    /// A digest mismatch throws an error that gives both the expected and the actual digest and the URI.
    /// The digest must be 64 lowercase hex chars (else throw, naming the value).
    public func ensure(uri: String, sha256: String, maxBytes: Int, timeoutSeconds: Int) throws(ArtifactError) -> (path: String, fetched: Bool) {
        guard SHA256.isValidHex(sha256) else {
            throw ArtifactError("\"\(sha256)\" is not a valid sha256 digest for \(URIText.display(uri)); give 64 lowercase hex characters")
        }
        let finalPath = path(forDigest: sha256)
        if contains(digest: sha256) { return (finalPath, false) }

        // A unique name per attempt: concurrent ensures of the same digest each write their own file,
        // and the rename makes whichever finishes last win with identical content.
        let temporary = blobDirectory + "/.tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        do throws(ArtifactError) {
            try Fetcher.fetch(uri: uri, to: temporary, maxBytes: maxBytes, timeoutSeconds: timeoutSeconds)
            let actual = try SHA256.hex(ofFileAt: temporary)
            guard actual == sha256 else {
                throw ArtifactError("digest mismatch for \(URIText.display(uri)): expected sha256 \(sha256), got \(actual); the artifact changed at its source or the digest given for it is wrong")
            }
            try syncPath(temporary, directory: false)
            do {
                try Files.rename(temporary, to: finalPath)
            } catch {
                throw ArtifactError("cannot move the verified blob into the store", error)
            }
        } catch {
            throw discardingPartial(temporary, after: error)
        }
        // Make the rename itself durable, so a power cut cannot lose a blob the caller was told exists.
        try syncPath(blobDirectory, directory: true)
        return (finalPath, true)
    }

    /// Deletes every blob whose digest is not in `keep`; returns how many were removed.
    /// Temporary files left by an earlier process (one that crashed mid-fetch) are removed too, but not counted.
    public func collectGarbage(keeping keep: Set<String>) throws(ArtifactError) -> Int {
        let names: [String]
        do {
            names = try Files.list(blobDirectory)
        } catch {
            throw ArtifactError("cannot list the content store", error)
        }
        let ownTemporaryPrefix = ".tmp-\(getpid())-"
        var removed = 0
        for name in names {
            if SHA256.isValidHex(name) {
                if keep.contains(name) { continue }
                try removeFile(blobDirectory + "/" + name)
                removed += 1
            } else if name.hasPrefix(".tmp-") && !name.hasPrefix(ownTemporaryPrefix) {
                try removeFile(blobDirectory + "/" + name)
            }
        }
        return removed
    }
}

#if canImport(Glibc)
import Glibc
#endif
import CCrypto
import EdgePOSIX

/// SHA-256 (OpenSSL, without its provider machinery).
public enum SHA256 {
    /// Lowercase hex digest of `bytes`.
    public static func hex(of bytes: [UInt8]) -> String {
        let digest = DigestContext()
        bytes.withUnsafeBytes { digest.update($0) }
        return digest.finishHex()
    }

    /// Lowercase hex digest of the file at `path`, read in 64 KiB chunks so memory stays flat.
    public static func hex(ofFileAt path: String) throws(ArtifactError) -> String {
        let file = try openFile(path, O_RDONLY, purpose: "hashing")
        let digest = DigestContext()
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let count = try readSome(file, chunk, path: path)
            if count == 0 { break }
            digest.update(UnsafeRawBufferPointer(rebasing: chunk[0..<count]))
        }
        return digest.finishHex()
    }

    /// Whether `value` has the shape of a digest this module produces: 64 lowercase hex characters.
    static func isValidHex(_ value: String) -> Bool {
        var count = 0
        for byte in value.utf8 {
            guard (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) else { return false }
            count += 1
        }
        return count == 64
    }
}

/// One SHA-256 computation, through OpenSSL's direct digest functions (no provider loaded: see
/// CCrypto/shim.h). They fail only on a null context, which this never passes.
private final class DigestContext {
    private var context = SHA256_CTX()

    init() {
        guard SHA256_Init(&context) == 1 else { fatalError("OpenSSL could not initialise SHA-256") }
    }

    func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        guard SHA256_Update(&context, bytes.baseAddress, bytes.count) == 1 else {
            fatalError("OpenSSL SHA-256 update failed")
        }
    }

    func finishHex() -> String {
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        guard SHA256_Final(&digest, &context) == 1 else { fatalError("OpenSSL SHA-256 finalisation failed") }
        return hexString(digest)
    }
}

/// Lowercase hex of a byte sequence.
func hexString<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    var text: [UInt8] = []
    for byte in bytes {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: text, as: UTF8.self)
}

import CCrypto

/// Ed25519 (RFC 8032) through OpenSSL's libcrypto, which the agent links already for TLS.
public enum Ed25519 {
    public static let publicKeyBytes = 32
    public static let signatureBytes = 64

    /// Whether `signature` is `publicKey`'s signature of `message`. Any malformed input is false.
    public static func verify(publicKey: [UInt8], message: [UInt8], signature: [UInt8]) -> Bool {
        // A failed check leaves entries on this thread's error queue; left there, they could be
        // taken for a later TLS call's error.
        defer { ERR_clear_error() }
        guard publicKey.count == publicKeyBytes, signature.count == signatureBytes,
              let key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, publicKey, publicKey.count) else { return false }
        defer { EVP_PKEY_free(key) }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, nil, nil, key) == 1 else { return false }
        return EVP_DigestVerify(context, signature, signature.count, message, message.count) == 1
    }
}

/// Why a key could not be made, read or used; the message says what to do.
public struct SigningError: Error, Sendable, CustomStringConvertible {
    public var description: String

    init(_ what: String) {
        var detail = ""
        let code = ERR_get_error()
        if code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            detail = " (\(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)))"
        }
        ERR_clear_error()
        description = what + detail
    }
}

/// An Ed25519 private key: made fresh, or read from PEM (PKCS #8, as `openssl genpkey -algorithm
/// ed25519` writes it too).
public final class Ed25519PrivateKey: @unchecked Sendable {
    // Owned, never shared: freed in deinit, used only through the methods below.
    private let key: OpaquePointer

    private init(_ key: OpaquePointer) { self.key = key }
    deinit { EVP_PKEY_free(key) }

    public static func generate() throws(SigningError) -> Ed25519PrivateKey {
        guard let context = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nil) else { throw SigningError("cannot make an Ed25519 key") }
        defer { EVP_PKEY_CTX_free(context) }
        var made: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_keygen(context, &made) == 1, let made else {
            throw SigningError("cannot make an Ed25519 key")
        }
        return Ed25519PrivateKey(made)
    }

    /// The key whose 32-byte seed (RFC 8032's "private key") is `seed`.
    public init(seed: [UInt8]) throws(SigningError) {
        guard seed.count == 32, let made = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, seed, seed.count) else {
            throw SigningError("an Ed25519 seed is 32 bytes")
        }
        key = made
    }

    /// Reads a PEM private key; anything but an Ed25519 key is refused.
    public init(pem: [UInt8]) throws(SigningError) {
        // The memory BIO reads `pem` in place: it is used and freed inside the closure. The
        // password callback refuses, so an encrypted key fails instead of prompting a terminal.
        let read: OpaquePointer? = pem.withUnsafeBytes { bytes in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in 0 }, nil)
        }
        guard let read else {
            throw SigningError("not an unencrypted PEM private key (make one with edgectl keygen)")
        }
        guard EVP_PKEY_get_base_id(read) == EVP_PKEY_ED25519 else {
            EVP_PKEY_free(read)
            throw SigningError("not an Ed25519 key: deployments are signed with Ed25519 (make one with edgectl keygen)")
        }
        key = read
    }

    /// The key as PEM (PKCS #8, unencrypted: keep the file 0600 and off the devices).
    public func pem() throws(SigningError) -> [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else { throw SigningError("cannot write the key") }
        defer { BIO_free(bio) }
        guard PEM_write_bio_PrivateKey(bio, key, nil, nil, 0, nil, nil) == 1 else { throw SigningError("cannot write the key") }
        var bytes = [UInt8](repeating: 0, count: Int(BIO_ctrl_pending(bio)))
        let read = bytes.withUnsafeMutableBytes { BIO_read(bio, $0.baseAddress, Int32($0.count)) }
        guard read == bytes.count else { throw SigningError("cannot write the key") }
        return bytes
    }

    /// The raw 32-byte public key, as the agent's `deployments.trustedKeys` holds it (in base64).
    public func publicKey() throws(SigningError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Ed25519.publicKeyBytes)
        var count = bytes.count
        guard EVP_PKEY_get_raw_public_key(key, &bytes, &count) == 1, count == Ed25519.publicKeyBytes else {
            throw SigningError("cannot read the public key")
        }
        return bytes
    }

    public func sign(_ message: [UInt8]) throws(SigningError) -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw SigningError("cannot sign") }
        defer { EVP_MD_CTX_free(context) }
        var signature = [UInt8](repeating: 0, count: Ed25519.signatureBytes)
        var count = signature.count
        guard EVP_DigestSignInit(context, nil, nil, nil, key) == 1,
              EVP_DigestSign(context, &signature, &count, message, message.count) == 1, count == Ed25519.signatureBytes else {
            throw SigningError("cannot sign")
        }
        return signature
    }
}

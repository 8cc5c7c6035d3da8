import Synchronization

/// Why a client's TLS handshake failed, as libmosquitto's log callback saw it. The callback may
/// run on a connect attempt's thread, even after the client is gone (the attempt keeps the handle
/// until it ends), so it finds the problem through this registry, keyed by the handle, under a
/// lock, and never through the client itself.
final class TLSProblem: Sendable {
    private let text = Mutex<String?>(nil)
    private static let registry = Mutex<[UInt: TLSProblem]>([:])

    /// Makes `problem` the one for `handle` until `forget`.
    static func register(_ problem: TLSProblem, for handle: OpaquePointer) {
        registry.withLock { $0[UInt(bitPattern: handle)] = problem }
    }

    static func forget(_ handle: OpaquePointer) {
        _ = registry.withLock { $0.removeValue(forKey: UInt(bitPattern: handle)) }
    }

    static func of(_ handle: OpaquePointer) -> TLSProblem? {
        registry.withLock { $0[UInt(bitPattern: handle)] }
    }

    /// The first error of a handshake wins: the verification error when OpenSSL has one, else
    /// OpenSSL's own line.
    func note(verifyError: String?, line: String) {
        text.withLock { current in
            if current == nil { current = verifyError.map { "certificate verification failed: \($0)" } ?? line }
        }
    }

    func take() -> String? {
        text.withLock { current in
            defer { current = nil }
            return current
        }
    }

    func clear() { text.withLock { $0 = nil } }
}

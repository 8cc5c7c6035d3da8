#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import CCurl

/// libcurl, loaded with dlopen and set up on the first http(s) fetch, and typed entry points for the functions used.
///
/// The agent does not link libcurl: with its dependency tree (OpenSSL or GnuTLS, LDAP, Kerberos, …) it would add
/// about 3.5 MB of resident library pages to every agent, although most devices only ever fetch file:// or data:
/// artifacts. CCurl is imported for the header's types and constants only; every function is found with dlsym.
///
/// Swift cannot call C variadic functions, and curl_easy_setopt/curl_easy_getinfo have no fixed-argument form.
/// On the Linux ABIs this agent runs on (x86-64 SysV, AArch64, 32-bit ARM EABI) an integer or pointer passed
/// as a variadic argument travels exactly like a fixed one, so calling through a fixed-argument pointer type is
/// ABI-correct. (On x86-64 the callee reads %al only to decide whether to spill vector registers.)
struct CurlRuntime: Sendable {
    typealias WriteCallback = @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int
    // The C prototypes from curl.h; CURL is `void`, so a handle is a raw pointer.
    private typealias GlobalInit = @convention(c) (CLong) -> CURLcode
    private typealias EasyInit = @convention(c) () -> UnsafeMutableRawPointer?
    private typealias EasyPerform = @convention(c) (UnsafeMutableRawPointer?) -> CURLcode
    private typealias EasyCleanup = @convention(c) (UnsafeMutableRawPointer?) -> Void
    private typealias EasyStrerror = @convention(c) (CURLcode) -> UnsafePointer<CChar>?
    private typealias SetLong = @convention(c) (UnsafeMutableRawPointer?, CURLoption, CLong) -> CURLcode
    private typealias SetOffset = @convention(c) (UnsafeMutableRawPointer?, CURLoption, Int64) -> CURLcode
    private typealias SetPointer = @convention(c) (UnsafeMutableRawPointer?, CURLoption, UnsafeRawPointer?) -> CURLcode
    private typealias SetCallback = @convention(c) (UnsafeMutableRawPointer?, CURLoption, WriteCallback) -> CURLcode
    private typealias GetLong = @convention(c) (UnsafeMutableRawPointer?, CURLINFO, UnsafeMutablePointer<CLong>) -> CURLcode

    /// The soname of libcurl 7.x and 8.x (the OpenSSL flavour on Debian and Ubuntu).
    static let libraryName = "libcurl.so.4"

    // Code addresses are immutable, so keeping them as integers keeps the type honestly Sendable.
    private let easyInitAddress: UInt
    private let performAddress: UInt
    private let cleanupAddress: UInt
    private let strerrorAddress: UInt
    private let setoptAddress: UInt
    private let getinfoAddress: UInt

    /// The process-wide instance, loaded on the first call. The lock serialises curl_global_init as libcurl requires.
    /// A failure is not kept, so that installing libcurl on a running device needs no agent restart.
    static func shared() throws(ArtifactError) -> CurlRuntime {
        try loadedCurlRuntime.withLock { (loaded) throws(ArtifactError) -> CurlRuntime in
            if let loaded { return loaded }
            let runtime = try load()
            loaded = runtime
            return runtime
        }
    }

    private static func load() throws(ArtifactError) -> CurlRuntime {
        // RTLD_LOCAL keeps libcurl's symbols (and its TLS library's) out of the global namespace of the agent.
        // The library is never closed: libcurl and OpenSSL keep global state and are not safe to unload.
        guard let library = dlopen(libraryName, RTLD_NOW | RTLD_LOCAL) else {
            throw ArtifactError("libcurl is needed for http(s) artifacts but \(libraryName) cannot be loaded (\(lastLoaderError())); "
                + "install it with `apt-get install libcurl4` (or libcurl4-openssl-dev), or use file:// or data: artifacts")
        }
        let runtime = CurlRuntime(
            easyInitAddress: try symbol("curl_easy_init", in: library),
            performAddress: try symbol("curl_easy_perform", in: library),
            cleanupAddress: try symbol("curl_easy_cleanup", in: library),
            strerrorAddress: try symbol("curl_easy_strerror", in: library),
            setoptAddress: try symbol("curl_easy_setopt", in: library),
            getinfoAddress: try symbol("curl_easy_getinfo", in: library))
        let globalInit = unsafeBitCast(try symbol("curl_global_init", in: library), to: GlobalInit.self)
        let status = globalInit(CLong(CURL_GLOBAL_DEFAULT))
        guard status == CURLE_OK else {
            throw ArtifactError("libcurl (\(libraryName)) failed to initialise: \(runtime.describe(status))")
        }
        return runtime
    }

    /// The address of the function `name` in `library`.
    private static func symbol(_ name: String, in library: UnsafeMutableRawPointer) throws(ArtifactError) -> UInt {
        guard let address = dlsym(library, name) else {
            throw ArtifactError("\(libraryName) has no \(name) (\(lastLoaderError())); "
                + "install a current libcurl with `apt-get install libcurl4` (or libcurl4-openssl-dev)")
        }
        return UInt(bitPattern: address)
    }

    /// dlerror's text for the last failed dlopen/dlsym on this thread (glibc keeps it per thread).
    private static func lastLoaderError() -> String {
        guard let text = dlerror() else { return "no detail from the dynamic loader" }
        return String(cString: text)
    }

    /// A new transfer handle, or nil when libcurl is out of memory.
    func easyInit() -> UnsafeMutableRawPointer? {
        unsafeBitCast(easyInitAddress, to: EasyInit.self)()
    }

    /// Runs the whole transfer on the calling thread.
    func perform(_ handle: UnsafeMutableRawPointer) -> CURLcode {
        unsafeBitCast(performAddress, to: EasyPerform.self)(handle)
    }

    func cleanup(_ handle: UnsafeMutableRawPointer) {
        unsafeBitCast(cleanupAddress, to: EasyCleanup.self)(handle)
    }

    /// libcurl's text for a result code.
    func describe(_ code: CURLcode) -> String {
        guard let text = unsafeBitCast(strerrorAddress, to: EasyStrerror.self)(code) else { return "libcurl error \(code.rawValue)" }
        return String(cString: text)
    }

    func set(_ handle: UnsafeMutableRawPointer, _ option: CURLoption, _ value: Int) -> CURLcode {
        unsafeBitCast(setoptAddress, to: SetLong.self)(handle, option, CLong(value))
    }

    func set(_ handle: UnsafeMutableRawPointer, _ option: CURLoption, offset value: Int64) -> CURLcode {
        unsafeBitCast(setoptAddress, to: SetOffset.self)(handle, option, value)
    }

    func set(_ handle: UnsafeMutableRawPointer, _ option: CURLoption, _ value: UnsafeRawPointer?) -> CURLcode {
        unsafeBitCast(setoptAddress, to: SetPointer.self)(handle, option, value)
    }

    func set(_ handle: UnsafeMutableRawPointer, _ option: CURLoption, _ value: WriteCallback) -> CURLcode {
        unsafeBitCast(setoptAddress, to: SetCallback.self)(handle, option, value)
    }

    func get(_ handle: UnsafeMutableRawPointer, _ info: CURLINFO, _ value: UnsafeMutablePointer<CLong>) -> CURLcode {
        unsafeBitCast(getinfoAddress, to: GetLong.self)(handle, info, value)
    }
}

private let loadedCurlRuntime = Mutex<CurlRuntime?>(nil)

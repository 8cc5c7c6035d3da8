#if canImport(Glibc)
import Glibc
#endif
import CCurl

/// libcurl set up once per process, plus typed entry points for its variadic functions.
///
/// Swift cannot call C variadic functions, and curl_easy_setopt/curl_easy_getinfo have no fixed-argument form.
/// On the Linux ABIs this agent runs on (x86-64 SysV, AArch64, 32-bit ARM EABI) an integer or pointer passed
/// as a variadic argument travels exactly like a fixed one, so calling through a fixed-argument pointer type is
/// ABI-correct. (On x86-64 the callee reads %al only to decide whether to spill vector registers.)
struct CurlRuntime: Sendable {
    typealias WriteCallback = @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int
    private typealias SetLong = @convention(c) (UnsafeMutableRawPointer?, CURLoption, CLong) -> CURLcode
    private typealias SetOffset = @convention(c) (UnsafeMutableRawPointer?, CURLoption, Int64) -> CURLcode
    private typealias SetPointer = @convention(c) (UnsafeMutableRawPointer?, CURLoption, UnsafeRawPointer?) -> CURLcode
    private typealias SetCallback = @convention(c) (UnsafeMutableRawPointer?, CURLoption, WriteCallback) -> CURLcode
    private typealias GetLong = @convention(c) (UnsafeMutableRawPointer?, CURLINFO, UnsafeMutablePointer<CLong>) -> CURLcode

    // Code addresses are immutable, so keeping them as integers keeps the type honestly Sendable.
    private let setoptAddress: UInt
    private let getinfoAddress: UInt

    /// The process-wide instance; Swift initialises globals once, thread-safely (swift_once).
    static var shared: Result<CurlRuntime, ArtifactError> { sharedCurlRuntime }

    fileprivate static func load() -> Result<CurlRuntime, ArtifactError> {
        let status = curl_global_init(CLong(CURL_GLOBAL_DEFAULT))
        guard status == CURLE_OK else {
            return .failure(ArtifactError("libcurl failed to initialise: \(String(cString: curl_easy_strerror(status)))"))
        }
        // dlopen(NULL) searches the program and the libraries it links, which include libcurl.
        guard let program = dlopen(nil, RTLD_NOW) else {
            return .failure(ArtifactError("cannot look up libcurl functions: dlopen failed"))
        }
        guard let setopt = dlsym(program, "curl_easy_setopt"), let getinfo = dlsym(program, "curl_easy_getinfo") else {
            return .failure(ArtifactError("cannot find curl_easy_setopt/curl_easy_getinfo in the loaded libcurl"))
        }
        return .success(CurlRuntime(setoptAddress: UInt(bitPattern: setopt), getinfoAddress: UInt(bitPattern: getinfo)))
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

private let sharedCurlRuntime = CurlRuntime.load()

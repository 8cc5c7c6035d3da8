import Hummingbird

/// Refuses, 401, every request without the dashboard's token when it has one (AccessToken).
/// A page loaded with a valid `?token=` gets it as a cookie (HttpOnly, SameSite=Strict), so that
/// its script and style sheet, which the browser fetches without the query, are let in too.
struct AccessGate<Context: RequestContext>: RouterMiddleware {
    let token: AccessToken?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token else {
            // No token: loopback only, and only under a loopback name. A web page elsewhere that
            // points its own name at 127.0.0.1 (DNS rebinding) sends that name, and is refused.
            guard Self.isLocalAuthority(request.head.authority ?? "") else {
                return Response(status: .misdirectedRequest, headers: [.contentType: "text/plain; charset=utf-8"],
                                body: .init(byteBuffer: ByteBuffer(string: "Open the dashboard as http://127.0.0.1:PORT/ or http://localhost:PORT/.\n")))
            }
            return try await next(request, context)
        }
        let query = request.uri.queryParameters.get("token")
        if let query, token.matches(query) {
            var response = try await next(request, context)
            response.headers[.setCookie] = "\(AccessToken.cookie)=\(query); Path=/; HttpOnly; SameSite=Strict"
            return response
        }
        if let authorization = request.headers[.authorization], authorization.hasPrefix("Bearer "),
           token.matches(authorization.dropFirst("Bearer ".count)) {
            return try await next(request, context)
        }
        if let cookie = Self.cookie(request.headers[values: .cookie]), token.matches(cookie) {
            return try await next(request, context)
        }
        return Response(status: .unauthorized,
                        headers: [.wwwAuthenticate: "Bearer", .contentType: "text/plain; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: "This dashboard needs its token: open it as /?token=TOKEN, "
                                                           + "or send Authorization: Bearer TOKEN.\n")))
    }

    /// Whether a request's `Host` (`name[:port]`, `[v6]:port`) names this machine's loopback.
    static func isLocalAuthority(_ authority: String) -> Bool {
        var host = Substring(authority)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.lastIndex(of: ":") {
            host = host[..<colon]
        }
        return host.lowercased() == "localhost" || ListenAddress.isLoopback(host)
    }

    /// Our cookie's value among the request's `Cookie` headers.
    static func cookie(_ headers: [String]) -> Substring? {
        for header in headers {
            for pair in header.split(separator: ";") {
                let trimmed = pair.drop { $0 == " " }
                if trimmed.hasPrefix("\(AccessToken.cookie)=") { return trimmed.dropFirst(AccessToken.cookie.count + 1) }
            }
        }
        return nil
    }
}

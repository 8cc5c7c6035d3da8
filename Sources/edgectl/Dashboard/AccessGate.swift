import Hummingbird

/// Refuses, 401, every request without the dashboard's token when it has one (AccessToken).
/// A page loaded with a valid `?token=` gets it as a cookie (HttpOnly, SameSite=Strict), so that
/// its script and style sheet, which the browser fetches without the query, are let in too.
struct AccessGate<Context: RequestContext>: RouterMiddleware {
    let token: AccessToken?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token else { return try await next(request, context) }
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

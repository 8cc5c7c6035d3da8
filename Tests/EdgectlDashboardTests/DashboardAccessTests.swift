import Testing
@testable import edgectl

@Suite struct DashboardAccessTests {
    @Test func theTokenMatchesOnlyItself() {
        let token = AccessToken("0123456789abcdef")
        #expect(token.matches("0123456789abcdef"))
        #expect(!token.matches("0123456789abcdeF"))
        #expect(!token.matches("0123456789abcde"))
        #expect(!token.matches("0123456789abcdef0"))
        #expect(!token.matches(""))
    }

    @Test(arguments: [("127.0.0.1:8080", "127.0.0.1", 8080, true), ("localhost:0", "127.0.0.1", 0, true),
                      ("[::1]:9000", "::1", 9000, true), ("0.0.0.0:8080", "0.0.0.0", 8080, false),
                      ("10.0.4.2:80", "10.0.4.2", 80, false), ("[::]:8080", "::", 8080, false),
                      ("127.0.0.1.example.com:80", "127.0.0.1.example.com", 80, false), ("127.a.b.c:80", "127.a.b.c", 80, false)])
    func listenAddresses(_ text: String, _ host: String, _ port: Int, _ loopback: Bool) throws {
        let address = try ListenAddress(text)
        #expect(address.host == host && address.port == port && address.isLoopback == loopback)
    }

    @Test(arguments: ["8080", "127.0.0.1", "127.0.0.1:99999", ":8080", "[::1]8080", "127.0.0.1:http"])
    func badListenAddressesAreRefused(_ text: String) {
        #expect(throws: (any Error).self) { try ListenAddress(text) }
    }

    @Test func ourCookieIsFoundAmongOthers() {
        #expect(AccessGate<DashboardContext>.cookie(["a=1; edgectl_dashboard_token=secret; b=2"]) == "secret")
        #expect(AccessGate<DashboardContext>.cookie(["a=1", "edgectl_dashboard_token=x"]) == "x")
        #expect(AccessGate<DashboardContext>.cookie(["xedgectl_dashboard_token=y"]) == nil)
    }

    @Test func withoutATokenOnlyALoopbackNameIsServed() {
        for local in ["127.0.0.1:8080", "localhost:8080", "LOCALHOST", "[::1]:9000", "127.0.0.2"] {
            #expect(AccessGate<DashboardContext>.isLocalAuthority(local), "\(local)")
        }
        for other in ["attacker.example:8080", "127.0.0.1.attacker.example", "10.0.0.5:8080", "", "[::1"] {
            #expect(!AccessGate<DashboardContext>.isLocalAuthority(other), "\(other)")
        }
    }
}

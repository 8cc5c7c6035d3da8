import ArgumentParser

/// `edgectl dashboard`: a live web page of the fleet, served from what the broker says.
struct Dashboard: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a live web page of the fleet: devices, functions, deployments, results and events.",
        discussion: """
            Reads the broker only (health, deployment status, group deployments, events and results under edge/) and \
            keeps what it shows in memory; the page follows every message within a second. It listens on loopback \
            unless told otherwise, and prints the URL to open.

            Listening on another address needs --allow-remote and a token, read from --token-file FILE or \
            $EDGECTL_DASHBOARD_TOKEN (never a flag: it would show in ps). Then every request must carry it: open \
            the page once as http://HOST:PORT/?token=TOKEN, or send Authorization: Bearer TOKEN.

            Examples:
              edgectl dashboard
              edgectl dashboard --listen 127.0.0.1:9000 --host broker.lab
              openssl rand -hex 32 > dashboard.token
              edgectl dashboard --listen 0.0.0.0:8080 --allow-remote --token-file dashboard.token
            """)
    @Option(help: "HOST:PORT to serve the page on; port 0 takes a free one (printed).") var listen = "127.0.0.1:8080"
    @Flag(help: "Allow an address other than loopback (needs a token).") var allowRemote = false
    @Option(name: .customLong("token-file"), help: "A file whose first line is the token every request must carry ($EDGECTL_DASHBOARD_TOKEN).")
    var tokenFile: String?
    @OptionGroup var broker: BrokerOptions

    func validate() throws {
        let address = try ListenAddress(listen)
        let token = try AccessToken.load(file: tokenFile)
        if !address.isLoopback {
            guard allowRemote else {
                throw ValidationError("--listen \(listen) is not a loopback address: anyone who can reach it would see the fleet. "
                                      + "Add --allow-remote and a token (--token-file FILE or $\(AccessToken.variable)), "
                                      + "or listen on 127.0.0.1 and use an SSH tunnel")
            }
            guard token != nil else {
                throw ValidationError("--allow-remote needs a token, so that only who has it can see the fleet: "
                                      + "--token-file FILE or $\(AccessToken.variable) (make one with `openssl rand -hex 32 > dashboard.token`)")
            }
        }
    }

    func run() throws {
        let address = try ListenAddress(listen)
        let token = try AccessToken.load(file: tokenFile)
        let hub = DashboardHub()
        try MQTTFeed.start(broker, into: hub)
        do {
            try AsyncBridge.wait { try await DashboardServer.run(hub: hub, token: token, listen: address) }
        } catch {
            printError("edgectl: the dashboard cannot serve on \(listen): \(error)")
            throw ExitCode(1)
        }
    }
}

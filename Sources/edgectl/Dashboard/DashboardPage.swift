/// The dashboard's page: a skeleton that `DashboardScript` fills in from the event stream, with
/// no inline script or style (the Content-Security-Policy allows neither).
enum DashboardPage {
    static let html = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="referrer" content="no-referrer">
        <title>edge fleet</title>
        <link rel="stylesheet" href="/dashboard.css">
        <script src="/dashboard.js" defer></script>
        </head>
        <body>
        <header>
          <h1>edge fleet</h1>
          <span id="summary">no device yet</span>
          <span id="connection" class="badge stale">connecting…</span>
        </header>
        <main>
          <section id="devices-section">
            <h2>Devices</h2>
            <div id="devices"><p class="empty">No device has reported to this broker yet.</p></div>
          </section>
          <section id="groups-section">
            <h2>Group deployments</h2>
            <div id="groups"><p class="empty">No group deployment is retained on this broker.</p></div>
          </section>
          <div class="columns">
            <section id="results-section">
              <h2>Latest results</h2>
              <label for="result-function">Function</label>
              <select id="result-function"></select>
              <table id="results">
                <thead><tr><th>time</th><th>status</th><th>invocation</th><th>ms</th><th>result</th></tr></thead>
                <tbody></tbody>
              </table>
            </section>
            <section id="events-section">
              <h2>Events</h2>
              <table id="events">
                <thead><tr><th>time</th><th>thing</th><th>event</th><th>function</th><th>detail</th></tr></thead>
                <tbody></tbody>
              </table>
            </section>
          </div>
        </main>
        </body>
        </html>

        """
}

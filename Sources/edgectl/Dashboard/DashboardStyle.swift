/// The dashboard's style sheet.
enum DashboardStyle {
    static let source = """
        :root { --ok: #1a7f37; --bad: #c62828; --warn: #b26a00; --muted: #667085; --line: #e4e7ec; --bg: #f6f7f9; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2433; background: var(--bg); }
        header { display: flex; align-items: center; gap: 16px; padding: 10px 20px; background: #1d2433; color: #fff; }
        header h1 { font-size: 18px; margin: 0; }
        #summary { color: #cfd4dc; }
        #connection { margin-left: auto; }
        main { padding: 12px 20px; }
        h2 { font-size: 15px; margin: 14px 0 8px; color: #344054; }
        .empty { color: var(--muted); }
        #devices { display: grid; grid-template-columns: repeat(auto-fill, minmax(880px, 1fr)); gap: 12px; }
        .device, .group { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
        .device.offline { opacity: 0.75; border-style: dashed; }
        .device-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 8px; }
        .device-head h3 { margin: 0; font-size: 15px; }
        .meta { color: var(--muted); }
        .badge { display: inline-block; padding: 1px 7px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #eef0f3; color: #344054; }
        .badge.good { background: #dcf5e3; color: var(--ok); }
        .badge.bad { background: #fde2e1; color: var(--bad); }
        .badge.busy { background: #fff1d6; color: var(--warn); }
        .badge.stale { background: #eef0f3; color: var(--muted); }
        .chip { display: inline-block; padding: 0 6px; margin-right: 4px; border: 1px solid var(--line); border-radius: 4px; font-size: 12px; color: #475467; }
        .deployment { margin: 4px 0 6px; }
        table { width: 100%; border-collapse: collapse; }
        th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; border-bottom: 1px solid var(--line); padding: 3px 6px; }
        td { padding: 3px 6px; border-bottom: 1px solid #f0f1f3; vertical-align: middle; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        .error-line td { color: var(--bad); font-size: 12px; border-bottom: none; }
        .bar { position: relative; width: 120px; height: 16px; background: #eef0f3; border-radius: 3px; overflow: hidden; }
        .bar .fill { position: absolute; left: 0; top: 0; bottom: 0; background: #7aa7e0; }
        .bar.high .fill { background: #e5a03a; }
        .bar.full .fill { background: #e06666; }
        .bar .label { position: relative; font-size: 11px; padding-left: 4px; line-height: 16px; white-space: nowrap; }
        .spark { display: flex; align-items: center; gap: 6px; }
        .spark svg { width: 100px; height: 26px; background: #fafbfc; border: 1px solid #f0f1f3; }
        .spark polyline { fill: none; stroke-width: 1.5; }
        .spark .rate { stroke: #2f6fce; }
        .spark .p50 { stroke: #1a7f37; }
        .spark .p99 { stroke: #c77700; }
        .spark span { font-size: 12px; font-variant-numeric: tabular-nums; white-space: nowrap; }
        #groups { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 12px; }
        .progress { height: 12px; background: #eef0f3; border-radius: 6px; overflow: hidden; display: flex; margin: 6px 0; }
        .progress div { height: 100%; }
        .progress .SUCCEEDED { background: #3fb950; }
        .progress .IN_PROGRESS { background: #e5a03a; }
        .progress .FAILED, .progress .ROLLED_BACK, .progress .REJECTED { background: #e06666; }
        .progress .SUPERSEDED { background: #98a2b3; }
        .count { margin-right: 10px; font-size: 12px; }
        .count b { font-variant-numeric: tabular-nums; }
        .count.zero { color: #98a2b3; }
        .columns { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
        #results td, #events td { font-size: 12px; }
        td.text { font-family: ui-monospace, monospace; word-break: break-all; }
        select { margin: 0 0 6px 6px; }
        @media (max-width: 900px) { .columns { grid-template-columns: 1fr; } #devices { grid-template-columns: 1fr; } }

        """
}

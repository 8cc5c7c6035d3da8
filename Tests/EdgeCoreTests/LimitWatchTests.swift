import Testing
@testable import EdgeCore

/// A usage sample with only the counters LimitWatch compares.
private func sample(oom: Int64? = nil, pidsHits: Int64? = nil, periods: Int64? = nil, throttled: Int64? = nil) -> ResourceUsage {
    var usage = ResourceUsage()
    usage.oomKills = oom
    usage.pidsLimitHits = pidsHits
    usage.cpuPeriods = periods
    usage.cpuThrottledPeriods = throttled
    usage.memoryBytes = 1 << 20
    return usage
}

/// Feeds CPU samples one second apart as (periods, throttled) and returns the hits of each.
private func feedCPU(_ watch: inout LimitWatch, _ samples: [(Int64, Int64)], startMs: Int64 = 0) -> [[LimitHit]] {
    samples.enumerated().map { index, counters in
        watch.observe(sample(periods: counters.0, throttled: counters.1), atMs: startMs + Int64(index) * 1000)
    }
}

@Suite struct LimitWatchTests {
    @Test func aFreshCgroupsWatchReportsHitsBeforeTheFirstSample() {
        // An instance that hits its pids limit and dies within the first interval is still reported.
        var watch = LimitWatch(freshCgroupAtMs: 0)
        var usage = ResourceUsage()
        usage.oomKills = 1
        usage.pidsLimitHits = 7
        usage.cpuPeriods = 10
        usage.cpuThrottledPeriods = 0
        #expect(watch.observe(usage, atMs: 1500) == [.oomKilled(newKills: 1, total: 1), .pidsLimit(newHits: 7, total: 7)])
    }

    @Test func theFirstSampleReportsNothing() {
        var watch = LimitWatch()
        #expect(watch.observe(sample(oom: 7, pidsHits: 3, periods: 100, throttled: 100), atMs: 0).isEmpty)
    }

    @Test func oomKillsAreReportedWhenTheCounterGrows() {
        var watch = LimitWatch()
        #expect(watch.observe(sample(oom: 1), atMs: 0).isEmpty)
        #expect(watch.observe(sample(oom: 3), atMs: 1000) == [.oomKilled(newKills: 2, total: 3)])
        #expect(watch.observe(sample(oom: 3), atMs: 2000).isEmpty)
        #expect(watch.observe(sample(oom: 4), atMs: 3000) == [.oomKilled(newKills: 1, total: 4)])
    }

    @Test func pidsLimitHitsAreReportedWhenTheCounterGrows() {
        var watch = LimitWatch()
        _ = watch.observe(sample(pidsHits: 0), atMs: 0)
        #expect(watch.observe(sample(pidsHits: 5), atMs: 1000) == [.pidsLimit(newHits: 5, total: 5)])
        #expect(watch.observe(sample(pidsHits: 5), atMs: 2000).isEmpty)
    }

    @Test func oomAndPidsInTheSameIntervalAreBothReported() {
        var watch = LimitWatch()
        _ = watch.observe(sample(oom: 0, pidsHits: 0), atMs: 0)
        #expect(watch.observe(sample(oom: 1, pidsHits: 2), atMs: 1000) == [
            .oomKilled(newKills: 1, total: 1), .pidsLimit(newHits: 2, total: 2),
        ])
    }

    @Test func countersThatGoDownReportNothing() {
        var watch = LimitWatch()
        _ = watch.observe(sample(oom: 5, pidsHits: 9, periods: 1000, throttled: 900), atMs: 0)
        // The instance was replaced: its new cgroup counts from zero.
        #expect(watch.observe(sample(oom: 0, pidsHits: 0, periods: 10, throttled: 10), atMs: 1000).isEmpty)
        #expect(watch.observe(sample(oom: 0, pidsHits: 0, periods: 20, throttled: 20), atMs: 2000).isEmpty)
    }

    @Test func growthAfterAReplacementCountsFromTheNewBaseline() {
        var watch = LimitWatch()
        _ = watch.observe(sample(oom: 5), atMs: 0)
        _ = watch.observe(sample(oom: 0), atMs: 1000)
        #expect(watch.observe(sample(oom: 1), atMs: 2000) == [.oomKilled(newKills: 1, total: 1)])
    }

    @Test func unknownCountersReportNothing() {
        var watch = LimitWatch()
        _ = watch.observe(sample(oom: 0, pidsHits: 0), atMs: 0)
        #expect(watch.observe(sample(), atMs: 1000).isEmpty)
        #expect(watch.observe(sample(oom: 4, pidsHits: 4), atMs: 2000).isEmpty)
    }

    @Test func oneThrottledIntervalIsNotSustained() {
        var watch = LimitWatch()
        let hits = feedCPU(&watch, [(0, 0), (100, 90), (200, 100), (300, 190), (400, 200)])
        #expect(hits.allSatisfy { $0.isEmpty })
    }

    @Test func twoThrottledIntervalsReportOnceUntilThrottlingStops() {
        var watch = LimitWatch()
        let hits = feedCPU(&watch, [(0, 0), (100, 60), (200, 130), (300, 230), (400, 330), (500, 340)])
        #expect(hits[0].isEmpty)
        #expect(hits[1].isEmpty)
        #expect(hits[2] == [.cpuThrottled(percent: 70, windowSeconds: 2)])
        #expect(hits[3].isEmpty)
        #expect(hits[4].isEmpty)
        #expect(hits[5].isEmpty)
    }

    @Test func throttlingIsReportedAgainAfterItStopped() {
        var watch = LimitWatch()
        let hits = feedCPU(&watch, [(0, 0), (100, 100), (200, 200), (300, 210), (400, 310), (500, 410)], startMs: 10_000)
        #expect(hits.map(\.count) == [0, 0, 1, 0, 0, 1])
        // The second window starts at the sample before its first throttled interval.
        #expect(hits[5] == [.cpuThrottled(percent: 100, windowSeconds: 2)])
    }

    @Test func exactlyHalfThePeriodsCountsAsThrottled() {
        var watch = LimitWatch()
        let hits = feedCPU(&watch, [(0, 0), (100, 50), (200, 100)])
        #expect(hits[2] == [.cpuThrottled(percent: 50, windowSeconds: 2)])
    }

    @Test func justUnderHalfIsNotThrottled() {
        var watch = LimitWatch()
        let hits = feedCPU(&watch, [(0, 0), (100, 49), (200, 98), (300, 147)])
        #expect(hits.allSatisfy { $0.isEmpty })
    }

    @Test func theReportedPercentIsTheLastIntervalsRoundedToATenth() {
        var watch = LimitWatch()
        let hits = feedCPU(&watch, [(0, 0), (3, 3), (6, 5)])
        #expect(hits[2] == [.cpuThrottled(percent: 66.7, windowSeconds: 2)])
    }

    @Test func theWindowStartsAtTheSampleBeforeTheFirstThrottledInterval() {
        var watch = LimitWatch()
        #expect(watch.observe(sample(periods: 0, throttled: 0), atMs: 1000).isEmpty)
        #expect(watch.observe(sample(periods: 10, throttled: 0), atMs: 6000).isEmpty)
        #expect(watch.observe(sample(periods: 20, throttled: 10), atMs: 8500).isEmpty)
        #expect(watch.observe(sample(periods: 30, throttled: 20), atMs: 9000) == [.cpuThrottled(percent: 100, windowSeconds: 3)])
        #expect(watch.observe(sample(periods: 40, throttled: 30), atMs: 12_000).isEmpty)

        var fresh = LimitWatch()
        _ = fresh.observe(sample(periods: 0, throttled: 0), atMs: 1000)
        _ = fresh.observe(sample(periods: 10, throttled: 8), atMs: 3500)
        #expect(fresh.observe(sample(periods: 20, throttled: 16), atMs: 4000) == [.cpuThrottled(percent: 80, windowSeconds: 3)])
    }

    @Test func intervalsWithoutNewPeriodsNeitherCountNorBreakTheStreak() {
        var watch = LimitWatch()
        let hits = feedCPU(&watch, [(0, 0), (100, 80), (100, 80), (200, 160)])
        #expect(hits[1].isEmpty)
        #expect(hits[2].isEmpty)
        #expect(hits[3] == [.cpuThrottled(percent: 80, windowSeconds: 3)])
    }

    @Test func periodsThatGoDownReportNothing() {
        var watch = LimitWatch()
        watch.sustainedSamples = 1
        // (1000 → 10) is a replaced instance, not an interval: both counters fell, by 90% as much.
        let hits = feedCPU(&watch, [(1000, 900), (10, 5), (20, 6)])
        #expect(hits.allSatisfy { $0.isEmpty })
    }

    @Test func sustainedSamplesAndRatioCanBeTuned() {
        var watch = LimitWatch()
        watch.sustainedSamples = 1
        watch.throttleRatio = 0.2
        let hits = feedCPU(&watch, [(0, 0), (100, 25), (200, 30), (300, 60)])
        #expect(hits[1] == [.cpuThrottled(percent: 25, windowSeconds: 1)])
        #expect(hits[2].isEmpty)
        #expect(hits[3] == [.cpuThrottled(percent: 30, windowSeconds: 1)])
    }

    @Test func resetForgetsThePreviousSample() {
        var watch = LimitWatch()
        _ = watch.observe(sample(oom: 0, periods: 0, throttled: 0), atMs: 0)
        _ = watch.observe(sample(oom: 0, periods: 100, throttled: 100), atMs: 1000)
        watch.reset()
        #expect(watch.observe(sample(oom: 9, periods: 200, throttled: 200), atMs: 2000).isEmpty)
        // The throttled streak started over too: one interval after the reset is not sustained.
        #expect(watch.observe(sample(oom: 9, periods: 300, throttled: 300), atMs: 3000).isEmpty)
        #expect(watch.observe(sample(oom: 10, periods: 400, throttled: 400), atMs: 4000) == [
            .oomKilled(newKills: 1, total: 10), .cpuThrottled(percent: 100, windowSeconds: 2),
        ])
    }
}

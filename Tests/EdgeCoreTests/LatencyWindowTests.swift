import Testing
@testable import EdgeCore

@Suite struct LatencyWindowTests {
    @Test func emptyWindowHasNoPercentiles() {
        let window = LatencyWindow()
        #expect(window.count == 0)
        #expect(window.percentile(0.5) == nil)
        #expect(window.percentile(0.99) == nil)
    }

    @Test func oneSampleIsEveryPercentile() {
        var window = LatencyWindow()
        window.record(12.5)
        #expect(window.count == 1)
        for fraction in [0.0, 0.5, 0.99, 1.0] { #expect(window.percentile(fraction) == 12.5) }
    }

    @Test func nearestRankOnOneToHundred() {
        var window = LatencyWindow()
        for value in (1...100).reversed() { window.record(Double(value)) }
        #expect(window.count == 100)
        #expect(window.percentile(0.5) == 50)
        #expect(window.percentile(0.99) == 99)
        #expect(window.percentile(0.9) == 90)
        #expect(window.percentile(1.0) == 100)
        #expect(window.percentile(0.0) == 1)
        #expect(window.percentile(0.001) == 1)
        #expect(window.percentile(0.505) == 51)
    }

    @Test func nearestRankOnTen() {
        var window = LatencyWindow()
        for value in [7.0, 1, 9, 3, 5, 2, 8, 10, 4, 6] { window.record(value) }
        #expect(window.percentile(0.5) == 5)
        #expect(window.percentile(0.99) == 10)
        #expect(window.percentile(0.11) == 2)
    }

    @Test func fractionsOutsideZeroToOneAreClamped() {
        var window = LatencyWindow()
        for value in [1.0, 2, 3] { window.record(value) }
        #expect(window.percentile(-1) == 1)
        #expect(window.percentile(5) == 3)
    }

    @Test func oldestSamplesAreDroppedWhenFull() {
        var window = LatencyWindow(capacity: 4)
        for value in [100.0, 200, 1, 2] { window.record(value) }
        #expect(window.count == 4)
        #expect(window.percentile(1) == 200)
        window.record(3)   // replaces 100
        window.record(4)   // replaces 200
        #expect(window.count == 4)
        #expect(window.percentile(0) == 1)
        #expect(window.percentile(1) == 4)
        #expect(window.percentile(0.5) == 2)
    }

    @Test func countStaysAtCapacityOverManyWraps() {
        var window = LatencyWindow(capacity: 3)
        for value in 1...10 { window.record(Double(value)) }
        #expect(window.count == 3)
        #expect(window.percentile(0) == 8)
        #expect(window.percentile(1) == 10)
    }

    @Test func defaultCapacityIs1024() {
        var window = LatencyWindow()
        for value in 1...1030 { window.record(Double(value)) }
        #expect(window.count == 1024)
        #expect(window.percentile(0) == 7)
        #expect(window.percentile(1) == 1030)
    }
}

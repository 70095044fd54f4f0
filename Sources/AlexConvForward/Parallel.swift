import Foundation

// MARK: - Parallel loops

/// Splits work over the machine's cores with `DispatchQueue.concurrentPerform`.
enum Parallel {
    /// Worker count used for the forward pass's own loops (set with `Network.setThreads`).
    nonisolated(unsafe) static var workers: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Runs `body` over `0..<count` split into contiguous ranges, in parallel when the work
    /// (`count * costPerItem` element operations) is large enough to pay for the dispatch.
    @inline(__always)
    static func forEach(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let total = count &* max(costPerItem, 1)
        let workers = Parallel.workers
        if workers <= 1 || count < 2 || total < 32_768 {
            if count > 0 { body(0..<count) }
            return
        }
        let chunks = min(count, workers * 4)
        // The loop bodies share raw buffers by design (each chunk writes a disjoint range), which
        // Swift cannot see; the box carries the closure across concurrentPerform's @Sendable boundary.
        withoutActuallyEscaping(body) { escaping in
            let box = UncheckedSendableBox(escaping)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let start = count * chunk / chunks
                let end = count * (chunk + 1) / chunks
                if start < end { box.value(start..<end) }
            }
        }
    }
}

/// Carries a value whose concurrent use the caller guarantees to be safe.
struct UncheckedSendableBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

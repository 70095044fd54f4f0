#if canImport(CDNNL)
import CDNNL
#endif
import Foundation
import AlexConvCore

// MARK: - The oneDNN forward pass

/// What `Network` needs from an accelerated implementation: running one tile of items.
protocol AcceleratedForward: AnyObject {
    /// Items per tile: large batches run tile by tile so per-image cost does not grow with the batch.
    var tile: Int { get }
    /// Runs `count` items: `input` (count, C, H, W) to `output` (count, ...); with `collect`, each
    /// layer's activation to `activations[layer]` (item-major, pointing at this tile's first item).
    /// Layers from `stopAt` on are skipped (their activations repeat the last computed one).
    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, activations: [UnsafeMutablePointer<Float>],
             count: Int, collect: Bool, stopAt: Int?) throws
    /// The implementation behind each layer for a tile of `batch` items (compiles that plan if needed).
    func implementations(batch: Int) throws -> [[String]]
}

/// The oneDNN forward pass for `model`, or nil in builds without oneDNN (macOS) or where libdnnl
/// cannot create a CPU engine.
func makeOneDNNForward(model: Model, shapes: [ActivationShape]) throws -> AcceleratedForward? {
    #if canImport(CDNNL)
    guard DNNL.engine != nil else { return nil }
    return try OneDNNForward(model: model, shapes: shapes)
    #else
    return nil
    #endif
}

#if canImport(CDNNL)
/// A model compiled for oneDNN: its weights converted once, and one plan per tile size (and
/// thread count, collecting or not, stopping point), created on first use and reused.
final class OneDNNForward: AcceleratedForward {
    /// Items per tile. Past it, oneDNN's time per image stays flat while activation memory would
    /// keep growing (measured with `alexconv-bench forward`, docs/forward.md).
    static let tileSize = 16
    /// Plans kept at once (a full tile, a remainder, a collecting one ...).
    static let maxPlans = 6

    let spec: ArchitectureSpec
    let shapes: [ActivationShape]
    let weights: OneDNNWeights
    let stream: DNNLStream
    var tile: Int { Self.tileSize }

    private struct PlanKey: Hashable {
        let batch: Int, threads: Int, collect: Bool, stopAt: Int?
    }
    private var plans: [PlanKey: OneDNNPlan] = [:]
    private var planOrder: [PlanKey] = []

    init(model: Model, shapes: [ActivationShape]) throws {
        spec = model.spec
        self.shapes = shapes
        weights = OneDNNWeights(model: model)
        stream = try DNNLStream()
    }

    private func plan(batch: Int, collect: Bool, stopAt: Int?) throws -> OneDNNPlan {
        let threads = Parallel.workers
        DNNL.setThreads(threads)
        let key = PlanKey(batch: batch, threads: threads, collect: collect, stopAt: stopAt)
        if let plan = plans[key] { return plan }
        var builder = OneDNNPlanBuilder(spec: spec, shapes: shapes, batch: batch, collect: collect, stopAt: stopAt,
                                        weights: weights, stream: stream)
        let plan = try builder.build()
        if planOrder.count >= Self.maxPlans { plans[planOrder.removeFirst()] = nil }
        plans[key] = plan
        planOrder.append(key)
        return plan
    }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, activations: [UnsafeMutablePointer<Float>],
             count: Int, collect: Bool, stopAt: Int?) throws {
        let plan = try self.plan(batch: count, collect: collect, stopAt: stopAt)
        try plan.run(input: input, output: output, activations: activations, stream: stream)
    }

    func implementations(batch: Int) throws -> [[String]] {
        try plan(batch: batch, collect: false, stopAt: nil).implementations
    }
}
#endif

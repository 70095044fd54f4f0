import AlexConvCore
import Foundation

#if canImport(CDNNL)
    import CDNNL
#endif

// MARK: - The oneDNN forward pass

/// What `Network` needs from an accelerated implementation: running one tile of items.
protocol AcceleratedForward: AnyObject {
    /// Items per call of `run`: larger batches run chunk by chunk so memory and per-image cost do
    /// not grow with the batch.
    var tile: Int { get }
    /// Runs `count` items: `input` (count, C, H, W) to `output` (count, ...); with `collect`, each
    /// layer's activation to `activations[layer]` (item-major, pointing at this tile's first item).
    /// Layers from `stopAt` on are skipped (their activations repeat the last computed one).
    func run(
        input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, activations: [UnsafeMutablePointer<Float>],
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
    /// A model compiled for oneDNN: one plan per tile size (and thread count, collecting or not,
    /// stopping point), created on first use and reused.
    ///
    /// Batches run in chunks of `classifierTile` images. Within a chunk the convolutional layers run
    /// tile by tile (`featureTile` images: their activations stay small) into a staging buffer, and the
    /// dense layers then run once on the whole chunk, so fc6-8's 234 MB of weights are read once per
    /// chunk rather than once per tile. A chunk of at most `featureTile` images is one plan.
    final class OneDNNForward: AcceleratedForward {
        /// Images per convolution tile: past it oneDNN's time per image stopped falling while the
        /// activations (2.3 MB per image for AlexNet) leave the caches.
        static let featureTile = 16
        /// Images per chunk, the dense layers' batch.
        static let classifierTile = 64
        /// Plans kept at once (full tiles, remainders, collecting ones ...).
        static let maxPlans = 8

        let spec: ArchitectureSpec
        let shapes: [ActivationShape]
        let weights: OneDNNWeights
        let stream: DNNLStream
        /// The first layer of the classifier stage (the flatten), nil when the chain never flattens.
        let split: Int?
        var tile: Int { split == nil ? Self.featureTile : Self.classifierTile }

        private enum Stage: Hashable { case whole, features, classifier }
        private struct PlanKey: Hashable {
            let stage: Stage, batch: Int, threads: Int, collect: Bool, stopAt: Int?, tag: UInt32?
        }
        private var plans: [PlanKey: OneDNNPlan] = [:]
        private var planOrder: [PlanKey] = []
        private var staging = FloatArray(count: 0)

        init(model: Model, shapes: [ActivationShape]) throws {
            spec = model.spec
            self.shapes = shapes
            weights = OneDNNWeights(model: model)
            stream = try DNNLStream()
            let flatten = spec.layers.firstIndex { $0 == .flatten }
            split = flatten.flatMap { $0 > 0 ? $0 : nil }
        }

        private func plan(
            _ stage: Stage, batch: Int, collect: Bool = false, stopAt: Int? = nil,
            tag: dnnl_format_tag_t? = nil
        ) throws -> OneDNNPlan {
            let threads = Parallel.workers
            DNNL.setThreads(threads)
            let key = PlanKey(stage: stage, batch: batch, threads: threads, collect: collect, stopAt: stopAt, tag: tag?.rawValue)
            if let plan = plans[key] { return plan }
            var builder = OneDNNPlanBuilder(
                spec: spec, shapes: shapes, batch: batch, collect: collect, stopAt: stopAt,
                weights: weights, stream: stream)
            switch stage {
            case .whole: break
            case .features:
                builder.layers = 0..<split!
                builder.output = tag.map { .stagingIn($0) } ?? .staging
            case .classifier:
                builder.layers = split!..<spec.layers.count
                builder.inputTag = tag
            }
            let plan = try builder.build()
            if planOrder.count >= Self.maxPlans { plans[planOrder.removeFirst()] = nil }
            plans[key] = plan
            planOrder.append(key)
            return plan
        }

        func run(
            input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, activations: [UnsafeMutablePointer<Float>],
            count: Int, collect: Bool, stopAt: Int?
        ) throws {
            let itemInput = spec.input.channels * spec.input.height * spec.input.width
            let itemOutput = (shapes.last ?? .vector(itemInput)).count
            if collect || count <= Self.featureTile || split == nil {
                // One plan per tile (collected activations need every layer's output anyway).
                var start = 0
                while start < count {
                    let n = min(Self.featureTile, count - start)
                    let tileActivations = zip(activations, shapes).map { $0 + start * $1.count }
                    try plan(.whole, batch: n, collect: collect, stopAt: stopAt)
                        .run(input: input + start * itemInput, output: output + start * itemOutput, activations: tileActivations, stream: stream)
                    start += n
                }
                return
            }
            // Features tile by tile into the staging buffer, then the classifier on the whole chunk.
            let first = try plan(.features, batch: Self.featureTile)
            guard let tag = first.outputTag, let split, case .map(let c, let h, let w) = shapes[split - 1] else {
                throw ForwardError("oneDNN plan: no staging layout")
            }
            let perImage = (try dnnl_memory_desc_t.f32([1, c, h, w], tag).byteCount + 3) / 4
            if staging.count < count * perImage { staging = FloatArray(count: Self.classifierTile * perImage) }
            var start = 0
            while start < count {
                let n = min(Self.featureTile, count - start)
                let features = n == Self.featureTile ? first : try plan(.features, batch: n, tag: tag)
                try features.run(input: input + start * itemInput, output: staging.pointer + start * perImage, activations: [], stream: stream)
                start += n
            }
            try plan(.classifier, batch: count, stopAt: stopAt, tag: tag)
                .run(input: staging.pointer, output: output, activations: [], stream: stream)
        }

        func implementations(batch: Int) throws -> [[String]] {
            guard batch > Self.featureTile, split != nil else { return try plan(.whole, batch: batch).implementations }
            let features = try plan(.features, batch: Self.featureTile)
            let classifier = try plan(.classifier, batch: batch, tag: features.outputTag)
            return zip(features.implementations, classifier.implementations).map { $0 + $1 }
        }
    }
#endif

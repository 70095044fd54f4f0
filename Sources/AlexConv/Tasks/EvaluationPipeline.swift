import AlexConvCore
import AlexConvImages
import Foundation

// MARK: - Decoding in parallel with the forward pass

/// Decodes and preprocesses images on worker threads while the caller runs the forward pass.
///
/// Workers take images in order and write each one's preprocessed input (3, H, W) straight into
/// its batch's buffer, one buffer per input convention (two models that preprocess differently
/// get one decode and two inputs); they stay at most `depth` batches ahead of the consumer, so
/// memory is bounded. `next()` hands out batches in order. An image that cannot be read or
/// decoded is left out of its batch and reported with its reason.
final class ImagePipeline: @unchecked Sendable {
    /// One batch of preprocessed images, in image order.
    struct Batch {
        /// Indices (into the pipeline's paths) of the images in `inputs`, in row order.
        var decoded: [Int]
        /// One (decoded.count, 3, H, W) float32 tensor per input convention, in `inputs` order.
        var inputs: [Tensor]
        /// Images that could not be used: index and reason (one line).
        var failures: [(index: Int, reason: String)]
    }

    private let paths: [String]
    private let specs: [InputSpec]
    private let batchSize: Int
    private let depth: Int
    private let reduceLargeJPEGs: Bool
    private let condition = NSCondition()
    private var nextImage = 0
    private var consumedBatches = 0
    private var cancelled = false
    private var slots: [Int: Slot] = [:]
    private var runningWorkers = 0
    private var busyNanoseconds: UInt64 = 0
    private var decodedCount = 0
    let workers: Int

    /// The pieces of one batch being filled.
    private final class Slot {
        let count: Int
        var buffers: [UnsafeMutablePointer<Float>]
        var remaining: Int
        var failed: [Int: String] = [:]
        init(count: Int, itemFloats: [Int]) {
            self.count = count
            remaining = count
            buffers = itemFloats.map { n in
                let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(1, n * count))
                buffer.initialize(repeating: 0, count: max(1, n * count))
                return buffer
            }
        }
        func release() { for buffer in buffers { buffer.deallocate() } }
    }

    /// A pipeline over `paths` producing batches of `batchSize` for each of `inputs`, decoded by
    /// `workers` threads at most `depth` batches ahead. With `reduceLargeJPEGs`, JPEGs at least four
    /// times the resize size on both sides are decoded reduced (libjpeg-turbo DCT scaling).
    init(paths: [String], inputs: [InputSpec], batchSize: Int, workers: Int, depth: Int = 3, reduceLargeJPEGs: Bool) {
        self.paths = paths
        self.specs = inputs
        self.batchSize = max(1, batchSize)
        self.workers = max(1, workers)
        self.depth = max(1, depth)
        self.reduceLargeJPEGs = reduceLargeJPEGs
        runningWorkers = self.workers
        for _ in 0..<self.workers {
            let thread = Thread { [self] in work() }
            thread.name = "alexconv-decode"
            thread.start()
        }
    }

    deinit {
        for slot in slots.values { slot.release() }
    }

    /// Number of batches.
    var batchCount: Int { (paths.count + batchSize - 1) / batchSize }

    /// Seconds the workers spent decoding and preprocessing, summed over workers, and the images they finished.
    var decodeWork: (seconds: Double, images: Int) {
        condition.withLock { (Double(busyNanoseconds) / 1e9, decodedCount) }
    }

    /// The next batch in order, waiting for its images; nil after the last one (or after `cancel`).
    func next() -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        let index = consumedBatches
        guard index < batchCount else { return nil }
        while !cancelled && (slots[index].map { $0.remaining > 0 } ?? true) { condition.wait() }
        guard !cancelled, let slot = slots.removeValue(forKey: index) else { return nil }
        consumedBatches += 1
        condition.broadcast()
        let start = index * batchSize
        var decoded: [Int] = []
        for i in 0..<slot.count where slot.failed[i] == nil { decoded.append(i) }
        var tensors: [Tensor] = []
        for (s, spec) in specs.enumerated() {
            let itemFloats = 3 * spec.height * spec.width
            var values = [Float](repeating: 0, count: decoded.count * itemFloats)
            values.withUnsafeMutableBufferPointer { out in
                for (row, i) in decoded.enumerated() {
                    (out.baseAddress! + row * itemFloats).update(from: slot.buffers[s] + i * itemFloats, count: itemFloats)
                }
            }
            tensors.append(Tensor(values, shape: [decoded.count, 3, spec.height, spec.width]))
        }
        let failures = slot.failed.sorted { $0.key < $1.key }.map { (index: start + $0.key, reason: $0.value) }
        slot.release()
        return Batch(decoded: decoded.map { start + $0 }, inputs: tensors, failures: failures)
    }

    /// Stops the workers (they finish the image in hand) and makes `next()` return nil.
    func cancel() {
        condition.withLock {
            cancelled = true
            condition.broadcast()
        }
    }

    /// Waits until every worker thread has returned.
    func waitForWorkers() {
        condition.withLock {
            while runningWorkers > 0 { condition.wait() }
        }
    }

    // MARK: Workers

    private func work() {
        while let (image, slot, offset) = take() {
            let started = DispatchTime.now().uptimeNanoseconds
            let failure = prepare(image, slot: slot, offset: offset)
            let elapsed = DispatchTime.now().uptimeNanoseconds - started
            condition.withLock {
                if let failure { slot.failed[offset] = failure }
                slot.remaining -= 1
                busyNanoseconds += elapsed
                decodedCount += 1
                if slot.remaining == 0 { condition.broadcast() }
            }
        }
        condition.withLock {
            runningWorkers -= 1
            condition.broadcast()
        }
    }

    /// The next image to decode and where it goes, waiting while the workers are `depth` batches ahead.
    private func take() -> (Int, Slot, Int)? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if cancelled || nextImage >= paths.count { return nil }
            let batch = nextImage / batchSize
            if batch < consumedBatches + depth { break }
            condition.wait()
        }
        let image = nextImage
        nextImage += 1
        let batch = image / batchSize
        let start = batch * batchSize
        let slot: Slot
        if let existing = slots[batch] {
            slot = existing
        } else {
            slot = Slot(count: min(batchSize, paths.count - start), itemFloats: specs.map { 3 * $0.height * $0.width })
            slots[batch] = slot
        }
        return (image, slot, image - start)
    }

    /// Decodes image `index` and writes its input for every convention; the failure's one-line reason, if any.
    private func prepare(_ index: Int, slot: Slot, offset: Int) -> String? {
        let path = paths[index]
        do {
            var hint: (width: Int, height: Int)?
            if reduceLargeJPEGs {
                // The largest size any convention still needs: no model's resize may upsample what it would have downsampled.
                let sizes = specs.map(ImagePreprocessor.smallestUsefulSize)
                hint = (sizes.map(\.width).max() ?? 0, sizes.map(\.height).max() ?? 0)
            }
            let image = try ImageDecoder.decode(path: path, atLeast: hint)
            for (s, spec) in specs.enumerated() {
                let itemFloats = 3 * spec.height * spec.width
                let output = UnsafeMutableBufferPointer(start: slot.buffers[s] + offset * itemFloats, count: itemFloats)
                try withFileContext(path) { try ImagePreprocessor.write(image, input: spec, into: output) }
            }
            return nil
        } catch let error as UserFacingError {
            return error.description
        } catch {
            return "\(path): \(error)"
        }
    }
}

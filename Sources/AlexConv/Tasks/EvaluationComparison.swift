import AlexConvCore
import AlexConvForward
import AlexConvImages
import Foundation

// MARK: - Two models on the same images

/// An image on which two models disagree (top-1), or differ most.
public struct ImageDisagreement: Codable, Equatable, Sendable {
    /// Path relative to the image folder.
    public var image: String
    /// Model A's best classes, most probable first, and their probabilities.
    public var topA: [Int]
    public var probabilitiesA: [Float]
    /// Model B's.
    public var topB: [Int]
    public var probabilitiesB: [Float]
    /// Largest |pA - pB| over all classes.
    public var maxProbabilityDifference: Float
}

/// What `compare` is asked to do.
public struct ComparisonSettings: Sendable {
    /// Images per forward pass.
    public var batch = 32
    /// Compare only the first N images (sorted paths).
    public var limit: Int?
    /// Overrides both models' recorded resize convention.
    public var resize: ResizeMode?
    /// Decode large JPEGs reduced (DCT scaling); false: full size.
    public var reduceLargeJPEGs = true
    /// Stop at the first unreadable image instead of counting it.
    public var strict = false
    /// Decoding threads (default: the active processor count).
    public var decodeThreads: Int?
    /// Top-1 agreement (percent) below which the models are said to disagree (exit 1).
    public var minimumAgreement = 100.0
    /// Show progress.
    public var progress = true

    /// Settings with the defaults above.
    public init() {}
}

/// The outcome of `compare`.
public struct ComparisonResult: Codable, Sendable {
    /// The two model files.
    public var modelA: String
    public var modelB: String
    /// Their architectures.
    public var architectureA: String
    public var architectureB: String
    /// The classes both have.
    public var classes: Int
    /// The image folder.
    public var images: String
    /// Each model's preprocessing, in words.
    public var preprocessingA: String
    public var preprocessingB: String
    /// Images in the comparison (after `limit`).
    public var planned: Int
    /// Images both models ran on.
    public var compared: Int
    /// Images that could not be used.
    public var unreadable: [UnreadableImage]
    /// Whether Ctrl-C stopped the run early.
    public var interrupted: Bool
    /// Percent of images with the same top-1 class.
    public var top1Agreement: Double
    /// Mean overlap of the two top-5 sets, percent (100: the same five classes for every image).
    public var top5Overlap: Double
    /// Largest |pA - pB| over every class of every image.
    public var maxProbabilityDifference: Double
    /// The image where it occurs.
    public var maxDifferenceImage: String?
    /// Mean over images of each image's largest |pA - pB|.
    public var meanMaxProbabilityDifference: Double
    /// Every image whose top-1 differs, in image order.
    public var flipped: [ImageDisagreement]
    /// The images with the largest probability differences (up to ten), largest first.
    public var largestDifferences: [ImageDisagreement]
    /// The agreement required.
    public var minimumAgreement: Double
    /// Speeds (the forward time is both models').
    public var rates: EvaluationRates
    /// What a user should know.
    public var notes: [String]

    /// Whether the top-1 agreement reaches the minimum.
    public var agree: Bool { top1Agreement + 1e-9 >= minimumAgreement }
}

extension Evaluation {
    /// Loads both models (any formats, the same import options), lists every image under
    /// `images`, and compares the models on them.
    public static func compare(
        _ a: String, _ b: String, images: String, settings: ComparisonSettings,
        arch: String? = nil, map: String? = nil, options: ReaderOptions = ReaderOptions(),
        shouldStop: @escaping () -> Bool = { EvaluationInterrupt.requested }
    ) throws -> ComparisonResult {
        let modelA = try ModelLoader.load(path: a, arch: arch, map: map, options: options)
        let modelB = try ModelLoader.load(path: b, arch: arch, map: map, options: options)
        var set = try ImageSetLoader.unlabelled(root: images)
        if let limit = settings.limit, limit < set.images.count { set.images = Array(set.images.prefix(limit)) }
        return try compare(modelA, a, modelB, b, set: set, settings: settings, shouldStop: shouldStop)
    }

    /// Runs `a` and `b` on every image of `set`, each with its own recorded preprocessing (one
    /// decode per image), and measures how far their predictions agree.
    public static func compare(
        _ a: Model, _ nameA: String, _ b: Model, _ nameB: String, set: ImageSet, settings: ComparisonSettings,
        shouldStop: @escaping () -> Bool = { EvaluationInterrupt.requested }
    ) throws -> ComparisonResult {
        let classes = a.spec.classes ?? 0
        guard classes > 0, classes == b.spec.classes else {
            throw ModelError(file: nameB, "has \(b.spec.classes ?? 0) classes, \(nameA) has \(classes): only models with the same classes can be compared")
        }
        let networkA = try Network(model: a)
        let networkB = try Network(model: b)
        var inputA = a.spec.input
        var inputB = b.spec.input
        var notes = set.notes
        if let resize = settings.resize {
            inputA.resizeMode = resize
            inputB.resizeMode = resize
            notes.append("both models resized by the \(resize.rawValue) convention (--resize)")
        }
        if inputA != inputB {
            notes.append("the models record different preprocessing; each image is preprocessed for each model as it records")
        }
        try ImagePreprocessor.checkInput(inputA, count: settings.batch)
        try ImagePreprocessor.checkInput(inputB, count: settings.batch)
        let inputs = inputA == inputB ? [inputA] : [inputA, inputB]
        let pipeline = ImagePipeline(
            paths: set.images.map(set.path), inputs: inputs, batchSize: settings.batch,
            workers: settings.decodeThreads ?? ProcessInfo.processInfo.activeProcessorCount,
            reduceLargeJPEGs: settings.reduceLargeJPEGs)
        let progress = settings.progress ? ProgressLine("comparing", total: set.images.count, unit: .items("images"), style: .bar(milestonePercent: 10)) : nil
        let started = DispatchTime.now().uptimeNanoseconds
        var forwardNanoseconds: UInt64 = 0
        var unreadable: [UnreadableImage] = []
        var disagreements: [ImageDisagreement] = []
        var largest: [ImageDisagreement] = []
        var agreeing = 0
        var overlap = 0
        var compared = 0
        var completed = 0
        var maxDifference: Float = 0
        var maxImage: String?
        var sumMax = 0.0
        var interrupted = false
        var thrown: Error?
        do {
            while let batch = pipeline.next() {
                for failure in batch.failures {
                    let image = set.images[failure.index]
                    if settings.strict { throw FormatError(.malformed, file: set.path(of: image), "unreadable image (--strict): \(failure.reason)") }
                    unreadable.append(UnreadableImage(image: image.path, reason: failure.reason))
                }
                if !batch.decoded.isEmpty {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    let logitsA = try networkA.run(batch.inputs[0], logits: true).floats()
                    let logitsB = try networkB.run(batch.inputs[inputs.count - 1], logits: true).floats()
                    forwardNanoseconds += DispatchTime.now().uptimeNanoseconds - t0
                    let keep = min(5, classes)
                    for (row, index) in batch.decoded.enumerated() {
                        let rowA = Array(logitsA[(row * classes)..<((row + 1) * classes)])
                        let rowB = Array(logitsB[(row * classes)..<((row + 1) * classes)])
                        let pa = softmax(rowA)
                        let pb = softmax(rowB)
                        var difference: Float = 0
                        for c in 0..<classes { difference = max(difference, abs(pa[c] - pb[c])) }
                        let topA = topK(rowA, keep)
                        let topB = topK(rowB, keep)
                        let entry = ImageDisagreement(
                            image: set.images[index].path, topA: topA, probabilitiesA: topA.map { pa[$0] },
                            topB: topB, probabilitiesB: topB.map { pb[$0] }, maxProbabilityDifference: difference)
                        compared += 1
                        sumMax += Double(difference)
                        overlap += Set(topA).intersection(topB).count
                        if topA.first == topB.first { agreeing += 1 } else { disagreements.append(entry) }
                        if difference > maxDifference || maxImage == nil {
                            maxDifference = difference
                            maxImage = entry.image
                        }
                        largest.append(entry)
                        if largest.count > 40 {
                            largest.sort { $0.maxProbabilityDifference > $1.maxProbabilityDifference }
                            largest.removeLast(largest.count - 10)
                        }
                    }
                }
                completed += batch.decoded.count + batch.failures.count
                progress?.update(completed: completed)
                if completed < set.images.count, shouldStop() {
                    interrupted = true
                    break
                }
            }
        } catch {
            thrown = error
        }
        pipeline.cancel()
        pipeline.waitForWorkers()
        progress?.finish()
        if let thrown { throw thrown }
        if compared == 0 && !interrupted {
            let first = unreadable.first.map { ": first \(oneLine($0.image)): \($0.reason)" } ?? ""
            throw FormatError(.malformed, file: set.root, "none of the \(set.images.count) images could be read\(first)")
        }
        largest.sort { $0.maxProbabilityDifference > $1.maxProbabilityDifference }
        let decodeWork = pipeline.decodeWork
        let rates = EvaluationRates(
            images: completed, seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9,
            forwardSeconds: Double(forwardNanoseconds) / 1e9, decodeSeconds: decodeWork.seconds,
            decodeThreads: pipeline.workers)
        let n = Double(max(compared, 1))
        return ComparisonResult(
            modelA: nameA, modelB: nameB, architectureA: a.spec.name, architectureB: b.spec.name, classes: classes,
            images: set.root, preprocessingA: InspectReport.inputWords(inputA), preprocessingB: InspectReport.inputWords(inputB),
            planned: set.images.count, compared: compared, unreadable: unreadable, interrupted: interrupted,
            top1Agreement: 100 * Double(agreeing) / n, top5Overlap: 100 * Double(overlap) / (n * Double(min(5, classes))),
            maxProbabilityDifference: Double(maxDifference), maxDifferenceImage: maxImage,
            meanMaxProbabilityDifference: sumMax / n, flipped: disagreements, largestDifferences: Array(largest.prefix(10)),
            minimumAgreement: settings.minimumAgreement, rates: rates, notes: notes)
    }

    /// Softmax in double precision, as float.
    static func softmax(_ logits: [Float]) -> [Float] {
        let peak = logits.max() ?? 0
        let exps = logits.map { Double(expf($0 - peak)) }
        let total = exps.reduce(0, +)
        return exps.map { Float($0 / total) }
    }
}

extension ComparisonResult {
    /// Human-readable: agreement, overlap, the largest difference and the images whose top-1 differs.
    public var text: String {
        var lines: [String] = []
        lines.append("A: \(modelA) (\(architectureA)); preprocessing: \(preprocessingA)")
        lines.append("B: \(modelB) (\(architectureB)); preprocessing: \(preprocessingB)")
        lines.append("images: \(images)")
        lines += notes.map { "note: \($0)" }
        if interrupted { lines.append("INTERRUPTED: partial result after \(compared + unreadable.count) of \(planned) images") }
        lines.append("compared: \(compared) images (\(unreadable.count) unreadable)")
        lines.append(String(format: "top-1 agreement: %.2f%% (%d of %d differ)", top1Agreement, flipped.count, compared))
        lines.append(String(format: "top-%d overlap: %.2f%%", min(5, classes), top5Overlap))
        lines.append(
            String(
                format: "largest probability difference: %.3g (%@); mean per image %.3g", maxProbabilityDifference,
                oneLine(maxDifferenceImage ?? "-") as NSString, meanMaxProbabilityDifference))
        if !flipped.isEmpty {
            lines.append("images whose top-1 differs (A vs B):")
            for d in flipped.prefix(50) {
                lines.append(
                    String(
                        format: "  %@: %d (%.3f) vs %d (%.3f)", oneLine(d.image) as NSString, d.topA.first ?? -1,
                        d.probabilitiesA.first ?? 0, d.topB.first ?? -1, d.probabilitiesB.first ?? 0))
            }
            if flipped.count > 50 { lines.append("  ... and \(flipped.count - 50) more (all in --json)") }
        }
        if !unreadable.isEmpty {
            lines.append("unreadable images:")
            for u in unreadable.prefix(20) { lines.append("  \(oneLine(u.image)): \(u.reason)") }
        }
        if rates.images > 0 { lines.append("speed: \(rates.summary) (forward pass: both models)") }
        lines.append(agree ? "models agree" : String(format: "models disagree: top-1 agreement %.2f%% is below %.2f%%", top1Agreement, minimumAgreement))
        return lines.joined(separator: "\n")
    }

    /// JSON report, sorted keys.
    public var json: String {
        struct Output: Encodable {
            let result: ComparisonResult
            let agree: Bool
            func encode(to encoder: Encoder) throws {
                try result.encode(to: encoder)
                var keyed = encoder.container(keyedBy: Key.self)
                try keyed.encode(agree, forKey: .agree)
            }
            enum Key: String, CodingKey { case agree }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(Output(result: self, agree: agree))) ?? Data("{}".utf8), as: UTF8.self)
    }
}

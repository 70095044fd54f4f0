import AlexConvCore
import AlexConvForward
import AlexConvImages
import Foundation

// MARK: - Accuracy on a labelled image folder

/// One image's best classes under a model.
public struct ImagePrediction: Codable, Equatable, Sendable {
    /// Path relative to the image folder.
    public var image: String
    /// The image's class, when labelled.
    public var label: Int?
    /// Class indices, most probable first (at least five where the model has them).
    public var top: [Int]
    /// Softmax probabilities (0...1) of `top`.
    public var probabilities: [Float]

    /// Whether the label is the first of `top`.
    public var correct: Bool { label != nil && top.first == label }
    /// Whether the label is among the first `k` of `top`.
    public func correct(within k: Int) -> Bool { label.map { top.prefix(k).contains($0) } ?? false }
}

/// An image that could not be used: missing, unreadable, not an image alexconv decodes.
public struct UnreadableImage: Codable, Equatable, Sendable {
    /// Path relative to the image folder.
    public var image: String
    /// Why, in one line.
    public var reason: String
}

/// One class's accuracy and what its images were mistaken for.
public struct ClassAccuracy: Codable, Sendable {
    /// A wrong top-1 class and how often.
    public struct Confusion: Codable, Sendable {
        /// The class predicted instead.
        public var index: Int
        /// Its name.
        public var name: String
        /// How many of this class's images it took.
        public var count: Int
    }
    /// Class index.
    public var index: Int
    /// Folder name, ImageNet name and synset, or `class <index>`.
    public var name: String
    /// Labelled images of this class that were evaluated.
    public var images: Int
    /// Of those, how many had the label first.
    public var top1Correct: Int
    /// Of those, how many had the label in the first five.
    public var top5Correct: Int
    /// Top-1 accuracy in percent.
    public var top1: Double { images == 0 ? 0 : 100 * Double(top1Correct) / Double(images) }
    /// Top-5 accuracy in percent.
    public var top5: Double { images == 0 ? 0 : 100 * Double(top5Correct) / Double(images) }
    /// The most frequent wrong top-1 classes, most frequent first (at most three).
    public var confusedWith: [Confusion]
}

/// A measured accuracy against the one expected (the CI gate).
public struct ExpectationCheck: Codable, Sendable {
    /// `top-1` or `top-5`.
    public var metric: String
    /// Expected accuracy, percent.
    public var expected: Double
    /// Measured accuracy, percent.
    public var measured: Double
    /// Allowed distance in percentage points, either way.
    public var tolerance: Double
    /// Whether |measured - expected| <= tolerance.
    public var passed: Bool
    /// One line: "top-1 56.52% expected 56.52 ± 0.1: ok".
    public var summary: String {
        String(
            format: "%@ %.2f%% expected %.2f ± %g: %@", metric as NSString, measured, expected, tolerance,
            (passed ? "ok" : String(format: "MISSED by %.2f points", abs(measured - expected))) as NSString)
    }
}

/// How fast a run went: the whole, the forward pass alone and the decoding alone.
public struct EvaluationRates: Codable, Sendable {
    /// Images run in this session (resumed ones excluded).
    public var images: Int
    /// Wall time of this session's run, seconds.
    public var seconds: Double
    /// Time in the forward pass, seconds.
    public var forwardSeconds: Double
    /// Decoding and preprocessing time summed over the decoding threads, seconds.
    public var decodeSeconds: Double
    /// Decoding threads.
    public var decodeThreads: Int
    /// Images per second, overall.
    public var imagesPerSecond: Double { seconds > 0 ? Double(images) / seconds : 0 }
    /// Images per second of the forward pass alone.
    public var forwardImagesPerSecond: Double { forwardSeconds > 0 ? Double(images) / forwardSeconds : 0 }
    /// Images per second the decoding threads together sustain.
    public var decodeImagesPerSecond: Double { decodeSeconds > 0 ? Double(images) * Double(decodeThreads) / decodeSeconds : 0 }
    /// What limits the run: `forward pass` when it is the slower stage, else `decoding`.
    public var boundBy: String { forwardImagesPerSecond <= decodeImagesPerSecond || decodeSeconds == 0 ? "forward pass" : "decoding" }
    /// "412.3 images/s overall; forward pass 1021.2 images/s; decoding 622.0 images/s on 2 threads (bound by decoding)".
    public var summary: String {
        String(
            format: "%.1f images/s overall (%d in %.2f s); forward pass %.1f images/s; decoding %.1f images/s on %d threads (bound by %@)",
            imagesPerSecond, images, seconds, forwardImagesPerSecond, decodeImagesPerSecond, decodeThreads,
            (boundBy == "decoding" ? "decoding" : "the forward pass") as NSString)
    }
}

/// What an evaluation run is asked to do (everything but the model and the folder).
public struct EvaluationSettings: Sendable {
    /// A Caffe `val.txt` or a CSV of `file,label` (nil: class folders).
    public var labels: String?
    /// Classes kept per image; top-1 and top-5 are always measured, top-K too when K is neither.
    public var top = 5
    /// Images per forward pass.
    public var batch = 32
    /// Evaluate only the first N images (label-file order or sorted paths).
    public var limit: Int?
    /// Overrides the model's recorded resize convention.
    public var resize: ResizeMode?
    /// Decode JPEGs at least four times the resize size reduced (DCT scaling); false: full size.
    public var reduceLargeJPEGs = true
    /// Stop at the first unreadable image (exit 3) instead of counting it.
    public var strict = false
    /// Keep per-image predictions in this file and continue from it.
    public var resume: String?
    /// Decoding threads (default: the active processor count).
    public var decodeThreads: Int?
    /// Expected top-1 accuracy, percent.
    public var expectTop1: Double?
    /// Expected top-5 accuracy, percent.
    public var expectTop5: Double?
    /// Allowed distance from an expectation, percentage points.
    public var tolerance = 0.1
    /// Show a progress bar (terminal) or progress lines (logs).
    public var progress = true

    /// Settings with the defaults above.
    public init() {}
}

/// The outcome of `evaluate`.
public struct EvaluationResult: Codable, Sendable {
    /// The model file.
    public var model: String
    /// Architecture name (preset or `custom`).
    public var architecture: String
    /// The model's classes.
    public var classes: Int
    /// The image folder.
    public var images: String
    /// Where the labels came from, in words.
    public var labelSource: String
    /// The preprocessing applied, in words.
    public var preprocessing: String
    /// Images in the evaluation (after `limit`).
    public var planned: Int
    /// Predictions taken from the resume file.
    public var resumed: Int
    /// Whether the run was interrupted before every image was seen.
    public var interrupted: Bool
    /// Images that could not be used (counted out of the accuracy, named).
    public var unreadable: [UnreadableImage]
    /// Images with a prediction (the accuracy's denominator).
    public var evaluated: Int { predictions.count }
    /// Top-1 accuracy, percent.
    public var top1: Double
    /// Top-5 accuracy, percent (top-min(5, classes)).
    public var top5: Double
    /// K of `--top`.
    public var topK: Int
    /// Top-K accuracy, percent.
    public var topKAccuracy: Double
    /// Every class with labelled images, by index.
    public var perClass: [ClassAccuracy]
    /// Up to ten classes with the lowest top-1 accuracy (indices into `perClass`' classes), worst first.
    public var worstClasses: [Int]
    /// The expectations given and how they fared.
    public var expectations: [ExpectationCheck]
    /// Speeds of this session.
    public var rates: EvaluationRates
    /// What a user should know (image set notes, overrides).
    public var notes: [String]
    /// Every prediction, in evaluation order.
    public var predictions: [ImagePrediction]
    /// Class names from the folders (ImageFolder), index = class.
    public var folderClasses: [String]?

    /// The name of class `index`: its folder (ImageFolder), its ImageNet name and synset (1000 classes), or `class <index>`.
    public func className(_ index: Int) -> String {
        ImageSet(root: images, images: [], source: .imageFolder, folderClasses: folderClasses).className(index, classes: classes)
    }

    /// Whether every expectation was met.
    public var passed: Bool { expectations.allSatisfy(\.passed) }
    /// The predictions whose top-1 is wrong.
    public var misclassified: [ImagePrediction] { predictions.filter { !$0.correct } }
}

/// `alexconv evaluate`: top-1 / top-5 accuracy of a model on a labelled image folder, decoding in
/// parallel with the forward pass, resumable, interruptible (the partial result is kept).
public enum Evaluation {
    /// Loads `model` (any format), lists and labels the images of `images`, and evaluates; files
    /// named by the settings are checked first (a resume file must not be an input).
    public static func evaluate(
        model path: String, images: String, settings: EvaluationSettings,
        arch: String? = nil, map: String? = nil, options: ReaderOptions = ReaderOptions(),
        shouldStop: @escaping () -> Bool = { EvaluationInterrupt.requested }
    ) throws -> EvaluationResult {
        let inputs = [path] + FormatRegistry.inputFiles(of: path, options: options) + [arch, map, settings.labels].compactMap { $0 }
        if let resume = settings.resume { try ResumeFile.checkWritable(resume, inputs: inputs) }
        let model = try ModelLoader.load(path: path, arch: arch, map: map, options: options)
        let classes = model.spec.classes ?? 0
        guard classes > 0 else { throw ModelError(file: path, "the model has no dense layer: no classes to evaluate") }
        var set = try ImageSetLoader.labelled(root: images, labels: settings.labels, classes: classes)
        if let limit = settings.limit, limit < set.images.count { set.images = Array(set.images.prefix(limit)) }
        return try evaluate(model, name: path, set: set, settings: settings, shouldStop: shouldStop)
    }

    /// Evaluates `model` on `set` (labelled images), preprocessing by the model's spec (resize
    /// convention overridden by the settings).
    public static func evaluate(
        _ model: Model, name: String, set: ImageSet, settings: EvaluationSettings,
        shouldStop: @escaping () -> Bool = { EvaluationInterrupt.requested }
    ) throws -> EvaluationResult {
        let network = try Network(model: model)
        var input = model.spec.input
        var notes = set.notes
        if let resize = settings.resize, resize != input.effectiveResizeMode {
            notes.append("resize convention \(resize.rawValue) instead of the model's recorded \(input.effectiveResizeMode.rawValue)")
            input.resizeMode = resize
        }
        try ImagePreprocessor.checkInput(input, count: max(1, settings.batch))
        let classes = model.spec.classes ?? 0
        let keep = min(max(settings.top, 5), classes)
        let header = ResumeFile.Header(model: model, input: input, labels: set.source, top: keep, reduceLargeJPEGs: settings.reduceLargeJPEGs)

        // Predictions already made (resume), then the rest.
        var done: [String: ResumeFile.Record] = [:]
        var kept: [ResumeFile.Record] = []
        if let resume = settings.resume, FileManager.default.fileExists(atPath: resume) {
            kept = try ResumeFile.load(path: resume, expecting: header)
            for record in kept { done[record.image] = record }
        }
        var records = [ResumeFile.Record?](repeating: nil, count: set.images.count)
        var todo: [Int] = []
        for (i, image) in set.images.enumerated() {
            if let record = done[image.path] {
                guard record.label == image.label else {
                    throw UsageError(
                        "\(settings.resume ?? ""): image \(oneLine(image.path)) has label \(record.label.map(String.init) ?? "none") there and \(image.label.map(String.init) ?? "none") now: the resume file belongs to another labelling; use another file"
                    )
                }
                records[i] = record
            } else {
                todo.append(i)
            }
        }
        let resumed = set.images.count - todo.count

        let decodeThreads = settings.decodeThreads ?? ProcessInfo.processInfo.activeProcessorCount
        let pipeline = ImagePipeline(
            paths: todo.map { set.path(of: set.images[$0]) }, inputs: [input], batchSize: settings.batch,
            workers: decodeThreads, reduceLargeJPEGs: settings.reduceLargeJPEGs)
        let progress = settings.progress ? ProgressLine("evaluating", total: set.images.count, unit: .items("images"), style: .bar(milestonePercent: 10)) : nil
        progress?.start(from: resumed)
        let started = DispatchTime.now().uptimeNanoseconds
        var forwardNanoseconds: UInt64 = 0
        var completed = resumed
        var interrupted = false
        var lastSave = started
        var thrown: Error?
        // Records of images outside this run (another --limit) stay in the file.
        let planned = Set(set.images.map(\.path))
        let others = kept.filter { !planned.contains($0.image) }
        func save() throws {
            guard let resume = settings.resume else { return }
            try ResumeFile.write(path: resume, header: header, records: records.compactMap { $0 } + others)
        }
        do {
            while let batch = pipeline.next() {
                for failure in batch.failures {
                    let image = set.images[todo[failure.index]]
                    if settings.strict {
                        throw FormatError(.malformed, file: set.path(of: image), "unreadable image (--strict): \(failure.reason)")
                    }
                    records[todo[failure.index]] = ResumeFile.Record(image: image.path, label: image.label, unreadable: failure.reason)
                }
                if !batch.decoded.isEmpty {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    let logits = try network.run(batch.inputs[0], logits: true).floats()
                    forwardNanoseconds += DispatchTime.now().uptimeNanoseconds - t0
                    for (row, index) in batch.decoded.enumerated() {
                        let image = set.images[todo[index]]
                        let (top, probabilities) = best(Array(logits[(row * classes)..<((row + 1) * classes)]), keep)
                        records[todo[index]] = ResumeFile.Record(image: image.path, label: image.label, top: top, probabilities: probabilities)
                    }
                }
                completed += batch.decoded.count + batch.failures.count
                progress?.update(completed: completed)
                let now = DispatchTime.now().uptimeNanoseconds
                if settings.resume != nil, now - lastSave > 2_000_000_000 {
                    try save()
                    lastSave = now
                }
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
        try save()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let decodeWork = pipeline.decodeWork
        let rates = EvaluationRates(
            images: completed - resumed, seconds: seconds, forwardSeconds: Double(forwardNanoseconds) / 1e9,
            decodeSeconds: decodeWork.seconds, decodeThreads: pipeline.workers)

        var predictions: [ImagePrediction] = []
        var unreadable: [UnreadableImage] = []
        for record in records.compactMap({ $0 }) {
            if let reason = record.unreadable {
                unreadable.append(UnreadableImage(image: record.image, reason: reason))
            } else {
                predictions.append(ImagePrediction(image: record.image, label: record.label, top: record.top ?? [], probabilities: record.probabilities ?? []))
            }
        }
        if predictions.isEmpty && !interrupted {
            let first = unreadable.first.map { ": first \(oneLine($0.image)): \($0.reason)" } ?? ""
            throw FormatError(.malformed, file: set.root, "none of the \(set.images.count) images could be read\(first)")
        }
        return summarise(
            model: name, spec: model.spec, input: input, set: set, predictions: predictions, unreadable: unreadable,
            resumed: resumed, interrupted: interrupted, settings: settings, rates: rates, notes: notes)
    }

    /// The indices of the `k` largest logits (ties: lower index first) and their softmax probabilities.
    static func best(_ logits: [Float], _ k: Int) -> ([Int], [Float]) {
        let probabilities = softmax(logits)
        let top = topK(logits, k)
        return (top, top.map { probabilities[$0] })
    }

    /// Accuracies, per-class table and expectation checks from the predictions.
    static func summarise(
        model: String, spec: ArchitectureSpec, input: InputSpec, set: ImageSet, predictions: [ImagePrediction],
        unreadable: [UnreadableImage], resumed: Int, interrupted: Bool, settings: EvaluationSettings,
        rates: EvaluationRates, notes: [String]
    ) -> EvaluationResult {
        let classes = spec.classes ?? 0
        let k = max(1, settings.top)
        let n = Double(max(predictions.count, 1))
        let top1 = 100 * Double(predictions.filter(\.correct).count) / n
        let top5 = 100 * Double(predictions.filter { $0.correct(within: 5) }.count) / n
        let topKAccuracy = 100 * Double(predictions.filter { $0.correct(within: k) }.count) / n
        var counts: [Int: (images: Int, top1: Int, top5: Int, confusions: [Int: Int])] = [:]
        for p in predictions {
            guard let label = p.label else { continue }
            var entry = counts[label] ?? (0, 0, 0, [:])
            entry.images += 1
            if p.correct { entry.top1 += 1 } else if let first = p.top.first { entry.confusions[first, default: 0] += 1 }
            if p.correct(within: 5) { entry.top5 += 1 }
            counts[label] = entry
        }
        let perClass = counts.keys.sorted().map { index -> ClassAccuracy in
            let entry = counts[index]!
            let confusions = entry.confusions.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(3)
                .map { ClassAccuracy.Confusion(index: $0.key, name: set.className($0.key, classes: classes), count: $0.value) }
            return ClassAccuracy(
                index: index, name: set.className(index, classes: classes), images: entry.images,
                top1Correct: entry.top1, top5Correct: entry.top5, confusedWith: Array(confusions))
        }
        let worst = perClass.filter { $0.top1Correct < $0.images }
            .sorted { $0.top1 != $1.top1 ? $0.top1 < $1.top1 : $0.index < $1.index }.prefix(10).map(\.index)
        var expectations: [ExpectationCheck] = []
        if !interrupted {
            if let expected = settings.expectTop1 {
                expectations.append(
                    ExpectationCheck(
                        metric: "top-1", expected: expected, measured: top1, tolerance: settings.tolerance,
                        passed: abs(top1 - expected) <= settings.tolerance + 1e-9))
            }
            if let expected = settings.expectTop5 {
                expectations.append(
                    ExpectationCheck(
                        metric: "top-5", expected: expected, measured: top5, tolerance: settings.tolerance,
                        passed: abs(top5 - expected) <= settings.tolerance + 1e-9))
            }
        }
        return EvaluationResult(
            model: model, architecture: spec.name, classes: classes, images: set.root, labelSource: set.sourceDescription,
            preprocessing: InspectReport.inputWords(input), planned: set.images.count, resumed: resumed,
            interrupted: interrupted, unreadable: unreadable, top1: top1, top5: top5, topK: k,
            topKAccuracy: topKAccuracy, perClass: perClass, worstClasses: Array(worst), expectations: expectations,
            rates: rates, notes: notes, predictions: predictions, folderClasses: set.folderClasses)
    }
}

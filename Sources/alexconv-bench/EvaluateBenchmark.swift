import AlexConv
import AlexConvCore
import AlexConvForward
import Foundation

// MARK: - Evaluation throughput

/// Images per second of `evaluate` on a 1,000-image folder of real photographs (the four fixture
/// photographs repeated, as ImageFolder class folders) with full-size torchvision AlexNet (random
/// weights): overall, the forward pass alone and the decoding alone, next to the Python way
/// (torchvision ImageFolder + transforms, a DataLoader with as many workers as threads, PyTorch
/// eager with the same threads; `Benchmarks/evaluate_peer.py`). `ALEXCONV_BENCH_THREADS` sets the
/// threads (default: all cores).
enum EvaluateBenchmark {
    static func run(directory: String, python: String?) throws -> String {
        let threads = ProcessInfo.processInfo.environment["ALEXCONV_BENCH_THREADS"].flatMap { Int($0) } ?? ProcessInfo.processInfo.activeProcessorCount
        let images = directory + "/images"
        let photographs = ["astronaut.jpg", "chelsea.png", "coffee.jpg", "coffee.png"]
        try? FileManager.default.removeItem(atPath: images)
        for (c, photo) in photographs.enumerated() {
            let folder = images + "/class\(c)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let data = try Data(contentsOf: URL(fileURLWithPath: "Fixtures/images/" + photo))
            let ext = (photo as NSString).pathExtension
            for i in 0..<250 { try data.write(to: URL(fileURLWithPath: String(format: "%@/%04d.%@", folder, i, ext))) }
        }
        Network.setThreads(threads)
        let model = try ForwardBenchmark.torchvisionAlexNet()
        let set = try ImageSetLoader.labelled(root: images, labels: nil, classes: 1000)
        var settings = EvaluationSettings()
        settings.progress = false
        settings.decodeThreads = threads
        settings.batch = 32
        var best: EvaluationRates?
        for _ in 0..<2 {
            let result = try Evaluation.evaluate(model, name: "torchvision AlexNet (random weights)", set: set, settings: settings) { false }
            if best == nil || result.rates.seconds < best!.seconds { best = result.rates }
        }
        let ours = best!
        var lines = [
            "evaluate: \(set.images.count) images (the fixture photographs \(photographs.joined(separator: ", ")) repeated), full-size torchvision AlexNet 224, batch 32, \(threads) thread(s), best of 2"
        ]
        lines.append("kernels: \(ForwardKernels.automatic.summary(threads: threads))")
        lines.append(
            String(
                format: "alexconv:              %7.1f images/s overall; forward pass %7.1f images/s; decoding + preprocessing %7.1f images/s (%d threads, bound by %@)",
                ours.imagesPerSecond, ours.forwardImagesPerSecond, ours.decodeImagesPerSecond, threads,
                (ours.boundBy == "decoding" ? "decoding" : "the forward pass") as NSString))
        guard let python, let peer = runPeer(python: python, images: images, threads: threads) else {
            lines.append("Python peer not run (set ALEXCONV_PYTHON to a python with torch and torchvision)")
            return lines.joined(separator: "\n")
        }
        let theirs = (peer["imagesPerSecond"] as? Double) ?? 0
        lines.append(
            String(
                format: "torchvision + PyTorch: %7.1f images/s overall; forward pass %7.1f images/s; DataLoader alone %7.1f images/s (%d workers)",
                theirs, (peer["forwardImagesPerSecond"] as? Double) ?? 0, (peer["decodeImagesPerSecond"] as? Double) ?? 0, threads))
        lines.append(
            String(
                format: "ratio: alexconv %.2fx the Python way's images/s (torch %@, torchvision %@)", ours.imagesPerSecond / max(theirs, 1e-9),
                (peer["torch"] as? String ?? "?") as NSString, (peer["torchvision"] as? String ?? "?") as NSString))
        return lines.joined(separator: "\n")
    }

    /// evaluate_peer.py's JSON, or nil when it cannot run.
    static func runPeer(python: String, images: String, threads: Int) -> [String: Any]? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "Benchmarks/evaluate_peer.py", "--images", images, "--threads", "\(threads)", "--batch", "32"]
        var environment = ProcessInfo.processInfo.environment
        if environment.removeValue(forKey: "ALEXCONV_SET_OMP_WAIT_POLICY") != nil { environment["OMP_WAIT_POLICY"] = nil }
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        let last = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        return (try? JSONSerialization.jsonObject(with: Data(last.utf8))) as? [String: Any]
    }
}

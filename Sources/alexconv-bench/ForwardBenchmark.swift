import Foundation
import AlexConvCore
import AlexConvForward

// MARK: - Forward-pass benchmark

/// Throughput of alexconv's forward pass on full-size torchvision AlexNet (random weights) at
/// batch 1 and 8, next to PyTorch eager and ONNX Runtime timed by `Benchmarks/forward_peers.py` in
/// the same run with the same thread count; printed as ratios plus GFLOP/s.
enum ForwardBenchmark {
    struct Options {
        var threads = ProcessInfo.processInfo.activeProcessorCount
        var batches = [1, 8]
        var iterations = 20
        /// Python with torch/onnxruntime for the peers (nil: skip them).
        var python: String? = ForwardBenchmark.defaultPython()
        /// Path of forward_peers.py.
        var peersScript = "Benchmarks/forward_peers.py"
    }

    /// The fixture venv's python when present, else `python3` on PATH (override: ALEXCONV_PYTHON).
    static func defaultPython() -> String? {
        if let python = ProcessInfo.processInfo.environment["ALEXCONV_PYTHON"] { return python }
        let venv = ".venv-fixtures/bin/python"
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : "python3"
    }

    /// Full-size torchvision AlexNet with He-scaled uniform random weights (a fixed seed).
    static func torchvisionAlexNet() throws -> Model {
        try BenchmarkModels.random(Presets.torchvision.spec(), seed: 0x9E37_79B9_7F4A_7C15) { shape in
            shape.count > 1 ? Float((6.0 / Double(shape.dropFirst().reduce(1, *))).squareRoot()) : 0.01
        }
    }

    /// Floating-point operations of one forward pass of one item (2 per multiply-add, conv and dense).
    static func flops(_ spec: ArchitectureSpec) throws -> Double {
        var total = 0.0
        var previous = ActivationShape.map(channels: spec.input.channels, height: spec.input.height, width: spec.input.width)
        for (layer, shape) in zip(spec.layers, try spec.activationShapes()) {
            switch layer {
            case .conv(let c):
                if case .map(let ci, _, _) = previous, case .map(let co, let oh, let ow) = shape {
                    total += 2.0 * Double(co * oh * ow) * Double(ci / c.groups * c.kernel[0] * c.kernel[1])
                }
            case .dense(let d):
                total += 2.0 * Double(previous.count) * Double(d.outFeatures)
            default: break
            }
            previous = shape
        }
        return total
    }

    /// Median seconds per call of `body` over `iterations` runs after two warm-ups.
    static func medianSeconds(iterations: Int, _ body: () throws -> Void) rethrows -> Double {
        try body(); try body()
        var times: [Double] = []
        for _ in 0..<max(1, iterations) {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        times.sort()
        return times[times.count / 2]
    }

    /// Runs the benchmark and returns the report text.
    static func run(_ options: Options = Options()) throws -> String {
        Network.setThreads(options.threads)
        let model = try torchvisionAlexNet()
        let network = try Network(model: model)
        let flopsPerImage = try flops(model.spec)
        var ours: [Int: Double] = [:]
        for batch in options.batches {
            var values = [Float](repeating: 0, count: batch * 3 * 224 * 224)
            for i in values.indices { values[i] = Float((i * 7919) % 2001 - 1000) / 1000 }
            let x = Tensor(values, shape: [batch, 3, 224, 224])
            ours[batch] = try medianSeconds(iterations: options.iterations) { _ = try network.run(x) }
        }
        let peers = options.python.flatMap { runPeers(python: $0, script: options.peersScript, options: options) }
        var lines = ["forward pass: torchvision AlexNet (61.1M parameters, \(String(format: "%.2f", flopsPerImage / 1e9)) GFLOP per image), \(options.threads) thread(s), median of \(options.iterations)"]
        lines.append("batch  alexconv ms  img/s    GFLOP/s  | torch ms  ratio  | onnxruntime ms  ratio")
        for batch in options.batches {
            let t = ours[batch]!
            var line = String(format: "%5d  %11.1f  %7.1f  %7.1f", batch, t * 1e3, Double(batch) / t, flopsPerImage * Double(batch) / t / 1e9)
            for peer in ["torch", "onnxruntime"] {
                if let p = (peers?[peer] as? [String: Any])?["\(batch)"] as? Double {
                    line += String(format: "  | %8.1f  %5.2fx", p * 1e3, p / t)
                } else {
                    line += "  |      n/a       "
                }
            }
            lines.append(line)
        }
        lines.append("ratio = peer time / alexconv time (above 1: alexconv is faster)")
        if peers == nil { lines.append("peers not run (set ALEXCONV_PYTHON to a python with torch and onnxruntime)") }
        return lines.joined(separator: "\n")
    }

    /// The peers' JSON report, or nil when the script cannot run.
    static func runPeers(python: String, script: String, options: Options) -> [String: Any]? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, script, "--threads", "\(options.threads)",
                             "--batches", options.batches.map(String.init).joined(separator: ","),
                             "--iterations", "\(options.iterations)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        let lastLine = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        return (try? JSONSerialization.jsonObject(with: Data(lastLine.utf8))) as? [String: Any]
    }
}

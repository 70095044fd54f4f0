import AlexConvCore
import AlexConvForward
import Foundation

// MARK: - Forward-pass benchmark

/// Throughput of alexconv's forward pass on full-size torchvision AlexNet (random weights) at
/// batch 1, 8 and 64 — the default kernels (oneDNN where linked) and the reference path — next to
/// PyTorch eager and ONNX Runtime timed by `Benchmarks/forward_peers.py` in the same run with the
/// same thread count; printed as ratios plus GFLOP/s, with the kernel line and the machine's two
/// physical limits (streaming-read memory bandwidth for batch 1's weights, FMA peak for large batches).
enum ForwardBenchmark {
    /// Defaults: all cores, batches 1, 8, 64, 20 iterations, the reference path included;
    /// `ALEXCONV_BENCH_THREADS`, `ALEXCONV_BENCH_BATCHES` (e.g. `1,8`), `ALEXCONV_BENCH_ITERATIONS`
    /// and `ALEXCONV_BENCH_REFERENCE=0` override them.
    struct Options {
        var threads = env("ALEXCONV_BENCH_THREADS").flatMap { Int($0) } ?? ProcessInfo.processInfo.activeProcessorCount
        var batches = env("ALEXCONV_BENCH_BATCHES").map { $0.split(separator: ",").compactMap { Int($0) } } ?? [1, 8, 64]
        var iterations = env("ALEXCONV_BENCH_ITERATIONS").flatMap { Int($0) } ?? 20
        /// Also time the reference path (im2col / Winograd + BLAS).
        var reference = env("ALEXCONV_BENCH_REFERENCE") != "0"

        static func env(_ name: String) -> String? { ProcessInfo.processInfo.environment[name] }
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
        try body()
        try body()
        var times: [Double] = []
        for _ in 0..<max(1, iterations) {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        times.sort()
        return times[times.count / 2]
    }

    /// A deterministic (batch, 3, 224, 224) input.
    static func input(batch: Int) -> Tensor {
        var values = [Float](repeating: 0, count: batch * 3 * 224 * 224)
        for i in values.indices { values[i] = Float((i * 7919) % 2001 - 1000) / 1000 }
        return Tensor(values, shape: [batch, 3, 224, 224])
    }

    /// Runs the benchmark and returns the report text.
    static func run(_ options: Options = Options()) throws -> String {
        Network.setThreads(options.threads)
        let model = try torchvisionAlexNet()
        let network = try Network(model: model)
        let reference = options.reference && network.kernels != .reference ? try Network(model: model, kernels: .reference) : nil
        let flopsPerImage = try flops(model.spec)
        let weightBytes = Double(try model.spec.expectedTensors().reduce(0) { $0 + $1.shape.reduce(1, *) }) * 4
        let denseBytes = Double(try model.spec.expectedTensors().filter { $0.name.hasPrefix("fc") }.reduce(0) { $0 + $1.shape.reduce(1, *) }) * 4
        // Batch by batch, alexconv and the peers back to back, so a ratio compares the same minute of
        // a machine whose load may change.
        var ours: [Int: Double] = [:]
        var theirs: [Int: Double] = [:]
        var peers: [String: Any]?
        for batch in options.batches {
            let x = input(batch: batch)
            ours[batch] = try medianSeconds(iterations: options.iterations) { _ = try network.run(x) }
            if let reference { theirs[batch] = try medianSeconds(iterations: options.iterations) { _ = try reference.run(x) } }
            guard let python = options.python, let report = runPeers(python: python, script: options.peersScript, batches: [batch], options: options) else { continue }
            var merged = peers ?? [:]
            for (name, value) in report {
                guard let entries = value as? [String: Any] else { continue }
                merged[name] = ((merged[name] as? [String: Any]) ?? [:]).merging(entries) { $1 }
            }
            peers = merged
        }
        let bandwidth = streamingReadBandwidth(bytes: 256 << 20, threads: options.threads)
        let peak = fmaPeak(threads: options.threads)

        var lines = [
            "forward pass: torchvision AlexNet (61.1M parameters, \(String(format: "%.2f", flopsPerImage / 1e9)) GFLOP per image), \(options.threads) thread(s), median of \(options.iterations)"
        ]
        lines.append("kernels: \(network.kernels.summary(threads: options.threads))")
        for batch in Set([1, options.batches.max() ?? 1]).sorted() {
            let layers = try network.implementations(batch: batch).filter { $0.layer.hasPrefix("conv") || $0.layer.hasPrefix("fc") }
            lines.append("  batch \(batch): " + layers.map { "\($0.layer) \($0.kernels.last ?? "?")" }.joined(separator: ", "))
        }
        if reference != nil { lines.append("reference: \(ForwardKernels.reference.summary(threads: options.threads))") }
        lines.append(
            String(
                format: "memory bandwidth: %.1f GB/s (streaming read of 256 MiB, %d threads) -> batch 1 reads %.0f MB of weights (%.0f MB fc6-8): >= %.1f ms",
                bandwidth / 1e9, options.threads, weightBytes / 1e6, denseBytes / 1e6, weightBytes / bandwidth * 1e3))
        lines.append(
            String(format: "FMA peak: %.0f GFLOP/s (", peak.flops / 1e9) + peak.explanation
                + String(format: ") -> %.1f ms per image at full FMA throughput", flopsPerImage / peak.flops * 1e3))
        var header = "batch  alexconv ms    img/s  GFLOP/s  floor ms"
        if reference != nil { header += "  | reference ms  ratio" }
        header += "  | torch ms  ratio  | onnxruntime ms  ratio"
        lines.append(header)
        for batch in options.batches {
            let t = ours[batch]!
            let floor = max(weightBytes / bandwidth, flopsPerImage * Double(batch) / peak.flops)
            var line = String(
                format: "%5d  %11.1f  %7.1f  %7.1f  %8.1f", batch, t * 1e3, Double(batch) / t,
                flopsPerImage * Double(batch) / t / 1e9, floor * 1e3)
            if let r = theirs[batch] { line += String(format: "  | %12.1f  %5.2fx", r * 1e3, r / t) }
            for peer in ["torch", "onnxruntime"] {
                if let p = (peers?[peer] as? [String: Any])?["\(batch)"] as? Double {
                    line += String(format: "  | %8.1f  %5.2fx", p * 1e3, p / t)
                } else {
                    line += "  |      n/a       "
                }
            }
            lines.append(line)
        }
        lines.append("ratio = other time / alexconv time (above 1: alexconv is faster); floor = max(weights / bandwidth, FLOPs / FMA peak)")
        if let peers {
            let versions = ["torch", "onnxruntime"].compactMap { name in
                ((peers[name] as? [String: Any])?["version"] as? String).map { "\(name) \($0)" }
            }
            lines.append("peers: " + versions.joined(separator: ", "))
        } else {
            lines.append("peers not run (set ALEXCONV_PYTHON to a python with torch and onnxruntime)")
        }
        return lines.joined(separator: "\n")
    }

    // MARK: - Physical limits

    /// Bytes per second for reading a `bytes`-sized buffer (far larger than the caches) once, split
    /// across `threads` threads summing 16-float vectors; best of five passes after a warm-up.
    static func streamingReadBandwidth(bytes: Int, threads: Int) -> Double {
        let count = bytes / 4
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { buffer.deallocate() }
        for i in 0..<count { buffer[i] = Float(i & 1023) }
        let pieces = max(1, threads)
        var best = Double.infinity
        let sums = UnsafeMutablePointer<Float>.allocate(capacity: pieces)
        defer { sums.deallocate() }
        let base = UncheckedPointer(buffer)
        let out = UncheckedPointer(sums)
        for pass in 0..<6 {
            let start = DispatchTime.now().uptimeNanoseconds
            DispatchQueue.concurrentPerform(iterations: pieces) { piece in
                let vectors = count / 16
                let lo = vectors * piece / pieces
                let hi = vectors * (piece + 1) / pieces
                let raw = UnsafeRawPointer(base.pointer)
                var a = SIMD16<Float>()
                var b = SIMD16<Float>()
                var c = SIMD16<Float>()
                var d = SIMD16<Float>()
                var v = lo
                while v + 4 <= hi {
                    a += raw.load(fromByteOffset: v * 64, as: SIMD16<Float>.self)
                    b += raw.load(fromByteOffset: (v + 1) * 64, as: SIMD16<Float>.self)
                    c += raw.load(fromByteOffset: (v + 2) * 64, as: SIMD16<Float>.self)
                    d += raw.load(fromByteOffset: (v + 3) * 64, as: SIMD16<Float>.self)
                    v += 4
                }
                out.pointer[piece] = (a + b + c + d).sum()
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if pass > 0 { best = min(best, seconds) }
        }
        var total: Float = 0
        for i in 0..<pieces { total += sums[i] }
        if total.isNaN { print("") }  // keeps the sums observable
        return Double(count / 16 * 64) / best
    }

    /// The FMA peak of `threads` cores: 2 FMA units per core (every AVX2 / AVX-512 server core since
    /// Haswell and Zen 2; an assumption the line states) x float lanes of oneDNN's ISA x 2 flops x
    /// the clock, measured (`measuredClockGHz`; /proc/cpuinfo's nominal "cpu MHz" in a VM is not the
    /// boost clock the cores run at).
    static func fmaPeak(threads: Int) -> (flops: Double, explanation: String) {
        let lanes = ForwardKernels.vectorLanes ?? 8
        let isa = ForwardKernels.instructionSet ?? "assumed AVX2"
        let ghz = measuredClockGHz()
        let nominal = cpuMHz().map { String(format: ", /proc/cpuinfo says %.2f", $0 / 1000) } ?? ""
        let flops = Double(threads) * 2 * Double(lanes) * 2 * ghz * 1e9
        return (
            flops,
            "\(threads) cores x 2 FMA/cycle x \(lanes) lanes (\(isa)) x 2 flop x "
                + String(format: "%.2f GHz measured", ghz) + nominal
        )
    }

    /// The core clock in GHz: a chain of dependent one-cycle integer operations (two per step: an
    /// add and a shift in parallel, then an xor) timed in thread CPU time, so time the thread spent
    /// descheduled on a busy machine does not count; best of five.
    static func measuredClockGHz() -> Double {
        let steps = 200_000_000
        var best = Double.infinity
        var sink: UInt64 = 0
        for _ in 0..<5 {
            let start = threadCPUSeconds()
            sink &+= dependentChain(steps, seed: UInt64(truncatingIfNeeded: steps) ^ sink)
            best = min(best, threadCPUSeconds() - start)
        }
        if sink == 42 { print("") }  // keeps the chain observable
        return 2 * Double(steps) / best / 1e9
    }

    @inline(never)
    static func dependentChain(_ steps: Int, seed: UInt64) -> UInt64 {
        var x = seed
        for _ in 0..<steps { x = (x &+ 0x9E37_79B9) ^ (x >> 3) }
        return x
    }

    static func threadCPUSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// The highest "cpu MHz" in /proc/cpuinfo (nil where there is none).
    static func cpuMHz() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        let values = text.split(separator: "\n").compactMap { line -> Double? in
            guard line.hasPrefix("cpu MHz"), let colon = line.firstIndex(of: ":") else { return nil }
            return Double(line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return values.max()
    }

    /// The peers' JSON report, or nil when the script cannot run.
    static func runPeers(python: String, script: String, batches: [Int], options: Options) -> [String: Any]? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            python, script, "--threads", "\(options.threads)",
            "--batches", batches.map(String.init).joined(separator: ","),
            "--iterations", "\(options.iterations)",
        ]
        // The peers keep their own threading defaults: no wait policy alexconv set for itself.
        var environment = ProcessInfo.processInfo.environment
        if environment.removeValue(forKey: "ALEXCONV_SET_OMP_WAIT_POLICY") != nil { environment["OMP_WAIT_POLICY"] = nil }
        process.environment = environment
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

/// A pointer carried into concurrent loops that write disjoint parts of it.
struct UncheckedPointer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}

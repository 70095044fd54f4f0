import AlexConvCore
import AlexConvTorch
import Foundation

// MARK: - pth -> safetensors benchmark (issue 5)

/// Reads a full-size (244 MB) torchvision-shaped .pth, written by alexconv's own pth writer, and
/// writes it as safetensors; next to torch.load + safetensors.torch.save_file in Python
/// (`Benchmarks/torch_peer.py`) timed in the same run. Prints wall time and peak RSS, and their
/// ratios. Target (issue 5): at most 0.2x Python's wall time, peak RSS at most 1.25x the model.
///
/// Two output locations are measured: the benchmark directory on disk (alexconv's writer fsyncs
/// before renaming the file into place, so Python is also timed with an fsync there), and
/// /dev/shm (memory: no disk in either number, the like-for-like CPU and memory comparison).
public enum TorchBenchmark {
    /// One output location's numbers.
    public struct Measurement: Sendable {
        public var location: String
        /// Best wall time of alexconv's read + write, seconds.
        public var seconds: Double
        /// Peak RSS of this process during the conversion (high-water mark reset just before).
        public var peakRSSBytes: Int
        /// RSS just before the conversion (runtime and libraries).
        public var baselineRSSBytes: Int
        /// Python's best load + save wall time (excluding `import torch`), plain and with fsync.
        public var pythonSeconds: Double?
        public var pythonSecondsWithFsync: Double?
        /// Python's peak RSS (whole process, including torch) and its RSS after `import torch`.
        public var pythonPeakRSSBytes: Int?
        public var pythonBaselineRSSBytes: Int?
    }

    public struct Result: Sendable {
        /// Bytes of the model's tensors (float32).
        public var modelBytes: Int
        public var measurements: [Measurement]
        /// Why Python was not measured, when it was not.
        public var pythonSkipped: String?

        /// Human-readable lines for the bench output.
        public var summary: String {
            func mb(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1_000_000) }
            var lines = ["pth -> safetensors, torchvision AlexNet (\(mb(modelBytes)) of float32 tensors)"]
            for m in measurements {
                lines.append("  output on \(m.location):")
                lines.append(
                    String(
                        format: "    alexconv: %.3f s, peak RSS %@ (%@ above a %@ baseline) = %.2fx the model (target <= 1.25x)",
                        m.seconds, mb(m.peakRSSBytes), mb(m.peakRSSBytes - m.baselineRSSBytes),
                        mb(m.baselineRSSBytes), Double(m.peakRSSBytes) / Double(modelBytes)))
                if let py = m.pythonSeconds, let peak = m.pythonPeakRSSBytes, let base = m.pythonBaselineRSSBytes {
                    lines.append(
                        String(
                            format: "    torch.load + save_file: %.3f s, peak RSS %@ (%@ above %@ after import torch)",
                            py, mb(peak), mb(peak - base), mb(base)))
                    var ratio = String(format: "    alexconv / python: wall time %.2fx", m.seconds / py)
                    if let synced = m.pythonSecondsWithFsync {
                        lines.append(String(format: "    torch.load + save_file + fsync: %.3f s", synced))
                        ratio += String(format: " (%.2fx against save_file + fsync)", m.seconds / synced)
                    }
                    ratio += String(
                        format: ", target <= 0.2x; peak RSS %.2fx (%.2fx above baselines)",
                        Double(m.peakRSSBytes) / Double(peak),
                        Double(m.peakRSSBytes - m.baselineRSSBytes) / Double(max(peak - base, 1)))
                    lines.append(ratio)
                }
            }
            if let pythonSkipped { lines.append("  python peer skipped: \(pythonSkipped)") }
            return lines.joined(separator: "\n")
        }
    }

    /// Runs the benchmark with the .pth in `directory` (a temporary one when nil). `python` runs
    /// the peer script `peerScript` (nil: skip the peer, with a notice in the summary).
    public static func run(
        directory: String? = nil, python: String? = defaultPython(),
        peerScript: String = "Benchmarks/torch_peer.py", repetitions: Int = 3
    ) throws -> Result {
        let dir = directory ?? (NSTemporaryDirectory() + "alexconv-torch-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { if directory == nil { try? FileManager.default.removeItem(atPath: dir) } }
        let pth = dir + "/alexnet.pth"
        let modelBytes = try writeModel(to: pth)
        defer { try? FileManager.default.removeItem(atPath: pth) }
        var result = Result(modelBytes: modelBytes, measurements: [])
        if python == nil { result.pythonSkipped = "no python with torch (set ALEXCONV_PYTHON)" }

        var locations = [(name: "disk (\(dir))", path: dir, fsyncPeer: true)]
        let shm = "/dev/shm/alexconv-torch-bench-\(UUID().uuidString)"
        if (try? FileManager.default.createDirectory(atPath: shm, withIntermediateDirectories: true)) != nil {
            locations.append((name: "memory (/dev/shm)", path: shm, fsyncPeer: false))
        }
        defer { try? FileManager.default.removeItem(atPath: shm) }

        for location in locations {
            // alexconv: read the .pth (memory-mapped, zero-copy) and write safetensors.
            var m = Measurement(location: location.name, seconds: .infinity, peakRSSBytes: 0, baselineRSSBytes: 0)
            for run in 0..<max(repetitions, 1) {
                let out = location.path + "/alexconv-\(run).safetensors"
                resetPeakRSS()
                let before = currentRSS()
                let start = DispatchTime.now()
                let bundle = try TorchArchiveReader.read(path: pth)
                try Safetensors.write(bundle.tensors, to: out)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
                if seconds < m.seconds {
                    m.seconds = seconds
                    m.peakRSSBytes = peakRSS()
                    m.baselineRSSBytes = before
                }
                try? FileManager.default.removeItem(atPath: out)
            }
            // Python: torch.load + safetensors.torch.save_file, best of two runs (and with fsync on disk).
            if let python, result.pythonSkipped == nil {
                for fsync in location.fsyncPeer ? [false, true] : [false] {
                    for run in 0..<2 {
                        let out = location.path + "/python-\(run).safetensors"
                        defer { try? FileManager.default.removeItem(atPath: out) }
                        guard let report = runPeer(python: python, script: peerScript, input: pth, output: out, fsync: fsync) else {
                            result.pythonSkipped = "\(python) \(peerScript) did not run (torch and safetensors installed?)"
                            break
                        }
                        if fsync {
                            m.pythonSecondsWithFsync = min(m.pythonSecondsWithFsync ?? .infinity, report.seconds)
                        } else if report.seconds < (m.pythonSeconds ?? .infinity) {
                            m.pythonSeconds = report.seconds
                            m.pythonPeakRSSBytes = report.peak
                            m.pythonBaselineRSSBytes = report.baseline
                        }
                    }
                }
            }
            result.measurements.append(m)
        }
        return result
    }

    /// `$ALEXCONV_PYTHON`, else the fixture venv's python when present.
    public static func defaultPython() -> String? {
        if let python = ProcessInfo.processInfo.environment["ALEXCONV_PYTHON"] { return python }
        let venv = ".venv-fixtures/bin/python"
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : nil
    }

    // MARK: - The model

    /// Writes full-size torchvision AlexNet (61,100,840 float32 parameters, fixed pseudo-random
    /// values) with alexconv's pth writer; returns the tensors' byte count. The model's memory is
    /// released before returning so it does not count in the measurement.
    static func writeModel(to path: String) throws -> Int {
        let model = try BenchmarkModels.random(Presets.torchvision.spec(), seed: 0x2545_F491_4F6C_DD1D) { _ in 0.01 }
        let bytes = model.tensors.reduce(0) { $0 + $1.tensor.byteCount }
        try TorchExporter.export(model, format: "pth", to: path, options: ExportOptions())
        return bytes
    }

    // MARK: - Measuring

    /// Resets this process's peak RSS (VmHWM) to its current RSS (Linux: /proc/self/clear_refs 5).
    static func resetPeakRSS() {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }

    static func statusField(_ field: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
        }
        return 0
    }

    static func currentRSS() -> Int { statusField("VmRSS") }
    static func peakRSS() -> Int { statusField("VmHWM") }

    /// Runs the Python peer: load + save seconds, peak RSS, RSS after `import torch`.
    static func runPeer(
        python: String, script: String, input: String, output: String,
        fsync: Bool
    ) -> (seconds: Double, peak: Int, baseline: Int)? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python.contains("/") ? python : "/usr/bin/env")
        process.arguments = (python.contains("/") ? [] : [python]) + [script, input, output] + (fsync ? ["--fsync"] : [])
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
            let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last,
            let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let seconds = json["seconds"] as? Double,
            let peak = (json["peak_rss_bytes"] as? NSNumber)?.intValue,
            let base = (json["rss_after_import_bytes"] as? NSNumber)?.intValue
        else { return nil }
        return (seconds, peak, base)
    }
}

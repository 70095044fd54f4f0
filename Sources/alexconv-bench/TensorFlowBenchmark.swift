import AlexConv
import AlexConvCore
import AlexConvTensorFlow
import Foundation

// MARK: - TF checkpoint -> canonical benchmark (issue 13)

/// Imports a full-size bvlc-shaped TF1 checkpoint (caffe-alexnet, 61M parameters, ~244 MB, written
/// here by alexconv's tf-checkpoint writer with seed 002's names) into the canonical model with the
/// `alexconv` binary, next to `tf.train.load_checkpoint` + numpy + safetensors in Python
/// (`Benchmarks/tensorflow_peer.py`), each in its own child process in the same run, output on disk
/// and on /dev/shm. Targets (issue 13): at most 0.2x Python's wall time, peak RSS at most 1.25x the
/// model's bytes. Python is timed without `import tensorflow` (its own clock) and as a whole process.
enum TensorFlowBenchmark {
    static func run(directory: String, alexconv: String, python: String?, repeats: Int) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let parameters = try Presets.caffeAlexNet.spec().expectedTensors().reduce(0) { $0 + $1.shape.reduce(1, *) }
        let modelBytes = parameters * 4
        let prefix = directory + "/bvlc_alexnet.ckpt"
        // Made by a child process, so this process never holds the model while it spawns the measured ones.
        let maker = try ChildProcess.run([CommandLine.arguments[0], "make-bvlc-checkpoint", prefix])
        guard maker.status == 0 else { throw IOError(path: prefix, "could not write the benchmark checkpoint: \(maker.output)") }
        print(String(format: "model: caffe-alexnet TF1 checkpoint, %d parameters, %.1f MB of float32", parameters, Double(modelBytes) / 1e6))

        var locations = [(name: "disk", path: directory, fsync: true)]
        let shm = "/dev/shm/alexconv-tf-bench-\(getpid())"
        if (try? FileManager.default.createDirectory(atPath: shm, withIntermediateDirectories: true)) != nil {
            locations.append((name: "memory (/dev/shm)", path: shm, fsync: false))
        }
        defer { try? FileManager.default.removeItem(atPath: shm) }
        func mb(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }
        // Every child is measured before this process reads any model: a child spawned while this
        // process holds memory can start with it counted in ru_maxrss.
        var results: [(location: String, ours: ChildProcess.Result, output: String)] = []
        for location in locations {
            let out = location.path + "/bvlc_alexnet.alexnet.safetensors"
            let ours = try ChildProcess.best([alexconv, "--quiet", "import", prefix, "-o", out, "--force"], repeats: repeats)
            results.append((location.name, ours, out))
        }
        var peers: [String: (seconds: Double, whole: Double, peak: Int, base: Int, importSeconds: Double)] = [:]
        if let python {
            for location in locations {
                for _ in 0..<max(repeats, 1) {
                    let pyOut = location.path + "/python.safetensors"
                    defer { try? FileManager.default.removeItem(atPath: pyOut) }
                    let r = try ChildProcess.run(
                        [python, "Benchmarks/tensorflow_peer.py", prefix, pyOut],
                        environment: ["ALEXCONV_BENCH_FSYNC": location.fsync ? "1" : "0"])
                    guard r.status == 0, let line = r.output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
                        let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                        let seconds = json["seconds"] as? Double
                    else {
                        print("  python peer failed: \(r.output.suffix(300))")
                        break
                    }
                    let base = (json["rss_after_import_bytes"] as? NSNumber)?.intValue ?? 0
                    if seconds < (peers[location.name]?.seconds ?? .infinity) {
                        peers[location.name] = (seconds, r.seconds, r.peakRSSBytes, base, json["import_seconds"] as? Double ?? 0)
                    }
                }
            }
        }
        // The import must be exact before its speed means anything: the same tensors as the checkpoint.
        let made = try Recognizer.recognize(try TensorFlowCheckpointReader.read(path: prefix)).model
        for (index, result) in results.enumerated() {
            let location = locations[index]
            let imported = try ModelLoader.load(path: result.output)
            for t in made.tensors where !(imported[t.name]?.bitwiseEqual(t.tensor) ?? false) {
                throw ModelError(tensor: t.name, "checkpoint -> canonical is not bit-exact")
            }
            try? FileManager.default.removeItem(atPath: result.output)
            print("  output on \(result.location):")
            print(
                String(
                    format: "    alexconv import: %.3f s, peak RSS %@ (%.2fx the model; target <= 1.25x); bit-exact",
                    result.ours.seconds, mb(result.ours.peakRSSBytes), Double(result.ours.peakRSSBytes) / Double(modelBytes)))
            guard let py = peers[result.location] else {
                print("    python: skipped (set ALEXCONV_PYTHON to a Python with tensorflow and safetensors)")
                continue
            }
            print(
                String(
                    format: "    tf.train.load_checkpoint + numpy + save_file%@: %.3f s (whole process %.3f s, import tensorflow %.2f s), peak RSS %@ (%@ after import)",
                    location.fsync ? " + fsync" : "", py.seconds, py.whole, py.importSeconds, mb(py.peak), mb(py.base)))
            print(
                String(
                    format: "    alexconv / python: wall %.2fx (target <= 0.2x), %.2fx of the whole Python process; peak RSS %.2fx",
                    result.ours.seconds / py.seconds, result.ours.seconds / py.whole, Double(result.ours.peakRSSBytes) / Double(py.peak)))
        }
        try? FileManager.default.removeItem(atPath: prefix + ".index")
        try? FileManager.default.removeItem(atPath: prefix + ".data-00000-of-00001")
        try? FileManager.default.removeItem(atPath: directory + "/checkpoint")
    }

    /// Writes the full-size bvlc-shaped checkpoint (`alexconv-bench make-bvlc-checkpoint PREFIX`).
    static func makeModel(at prefix: String) throws {
        let model = try BenchmarkModels.random(Presets.caffeAlexNet.spec(), seed: 0x2545_F491_4F6C_DD1D) { _ in 0.03 }
        try TensorFlowCheckpointExporter.export(model, format: "tf-checkpoint", to: prefix, options: ExportOptions())
    }
}

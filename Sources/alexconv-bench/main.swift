import AlexConv
import AlexConvCaffe
import AlexConvCore
import Foundation

// alexconv-bench: measures alexconv against the Python way on the same machine, in the same run.
//   alexconv-bench numpy     npy <-> canonical vs numpy (issue 3)
//   alexconv-bench torch     pth -> safetensors vs torch + safetensors (issue 5)
//   alexconv-bench keras     Keras .h5 -> canonical -> .h5 vs Keras 3 and h5py (issue 6)
//   alexconv-bench forward   forward-pass throughput vs PyTorch eager and ONNX Runtime (issue 4)
//   alexconv-bench containers  pickle machine and zip reader on many small records (issue 12)
//   alexconv-bench caffe     caffemodel <-> canonical vs protobuf ParseFromString + numpy (issue 14)
//   alexconv-bench tensorflow  TF1 checkpoint -> canonical vs tf.train.load_checkpoint + numpy (issue 13)
//   alexconv-bench evaluate  images/s on a 1,000-image folder vs torchvision transforms + PyTorch eager (issue 17)
//   alexconv-bench all       everything
// Build in release mode: `swift run -c release alexconv-bench all`.

ForwardKernels.preferPassiveOpenMPWaiting()
let arguments = Array(CommandLine.arguments.dropFirst())
let which = arguments.first ?? "all"
let executableDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
let alexconvBinary = executableDirectory + "/alexconv"
let scratch = ProcessInfo.processInfo.environment["ALEXCONV_BENCH_DIR"] ?? NSTemporaryDirectory() + "alexconv-bench"
let python: String? = {
    if let p = ProcessInfo.processInfo.environment["ALEXCONV_PYTHON"] { return p }
    return FileManager.default.isExecutableFile(atPath: ".venv-fixtures/bin/python") ? ".venv-fixtures/bin/python" : "python3"
}()

func section(_ title: String, _ body: () throws -> Void) {
    print("== \(title)")
    do { try body() } catch { print("  failed: \(error)") }
    fflush(nil)
}

if which == "make-bvlc-npy", arguments.count == 2 {
    do {
        try NumPyBenchmark.makeModel(at: arguments[1])
        exit(0)
    } catch {
        print("\(error)")
        exit(1)
    }
}
if which == "make-caffemodel", arguments.count == 2 {
    do {
        try CaffeBenchmark.makeModel(at: arguments[1])
        exit(0)
    } catch {
        print("\(error)")
        exit(1)
    }
}
if which == "decode-whole-caffemodel", arguments.count == 2 {
    do {
        print(try CaffeReader.decodeWithoutScanning(path: arguments[1]))
        exit(0)
    } catch {
        print("\(error)")
        exit(1)
    }
}

let known = ["numpy", "torch", "forward", "keras", "containers", "caffe", "tensorflow", "evaluate", "all"]
if which == "make-bvlc-checkpoint", arguments.count == 2 {
    do {
        try TensorFlowBenchmark.makeModel(at: arguments[1])
        exit(0)
    } catch {
        print("\(error)")
        exit(1)
    }
}
guard known.contains(which) else {
    FileHandle.standardError.write(Data("usage: alexconv-bench [\(known.joined(separator: "|"))]\n".utf8))
    exit(2)
}
if which == "numpy" || which == "all" {
    section("npy <-> canonical (issue 3)") {
        guard FileManager.default.isExecutableFile(atPath: alexconvBinary) else {
            throw IOError(path: alexconvBinary, "not built: run `swift build -c release` first")
        }
        try NumPyBenchmark.run(directory: scratch + "/numpy", alexconv: alexconvBinary, python: python, repeats: 3)
    }
}
if which == "torch" || which == "all" {
    section("pth -> safetensors (issue 5)") {
        print(try TorchBenchmark.run(directory: scratch + "/torch", python: python).summary)
    }
}
if which == "keras" || which == "all" {
    section("Keras .h5 read + write (issue 6)") {
        print(try KerasBenchmark.run(directory: scratch + "/keras", python: python))
    }
}
if which == "containers" || which == "all" {
    section("container parsing (issue 12)") {
        print(try ContainerBenchmark.run(directory: scratch + "/containers"))
    }
}
if which == "caffe" || which == "all" {
    section("caffemodel <-> canonical (issue 14)") {
        guard FileManager.default.isExecutableFile(atPath: alexconvBinary) else {
            throw IOError(path: alexconvBinary, "not built: run `swift build -c release` first")
        }
        try CaffeBenchmark.run(directory: scratch + "/caffe", alexconv: alexconvBinary, python: python, repeats: 3)
    }
}
if which == "tensorflow" || which == "all" {
    section("TF checkpoint -> canonical (issue 13)") {
        guard FileManager.default.isExecutableFile(atPath: alexconvBinary) else {
            throw IOError(path: alexconvBinary, "not built: run `swift build -c release` first")
        }
        try TensorFlowBenchmark.run(directory: scratch + "/tensorflow", alexconv: alexconvBinary, python: python, repeats: 3)
    }
}
if which == "forward" || which == "all" {
    section("forward pass (issue 4)") {
        print(try ForwardBenchmark.run())
    }
}
if which == "evaluate" || which == "all" {
    section("evaluate: images/s on a 1,000-image folder (issue 17)") {
        print(try EvaluateBenchmark.run(directory: scratch + "/evaluate", python: python))
    }
}

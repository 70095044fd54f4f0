import Foundation

#if canImport(Accelerate)
    import Accelerate
#else
    import CBLAS
#endif
#if canImport(CDNNL)
    import CDNNL
#endif

// MARK: - Which kernels run the forward pass

/// The implementation a `Network` runs its layers with.
public enum ForwardKernels: String, Sendable, CaseIterable {
    /// oneDNN where this build has it (Linux), else the reference path.
    case automatic
    /// alexconv's own im2col / Winograd + BLAS path: the reference the other kernels are tested against.
    case reference
    /// oneDNN's JIT kernels, chosen by the CPU's features (SSE4.1, AVX2, AVX-512, AMX); an error
    /// in builds without oneDNN.
    case oneDNN = "onednn"

    /// Whether this build links oneDNN and it can run on this machine.
    public static var oneDNNAvailable: Bool {
        #if canImport(CDNNL)
            return DNNL.engine != nil
        #else
            return false
        #endif
    }

    /// What `.automatic` means here.
    public static var preferred: ForwardKernels { oneDNNAvailable ? .oneDNN : .reference }

    /// One line naming the library, the instruction set its kernels use and the threads, e.g.
    /// `oneDNN 2.6.3, JIT kernels for avx512_core_bf16, OpenMP, 2 threads` (what `alexconv --version`
    /// and `alexconv-bench forward` print).
    public func summary(threads: Int = Network.threads) -> String {
        let threadText = "\(threads) thread\(threads == 1 ? "" : "s")"
        switch self == .automatic ? Self.preferred : self {
        case .oneDNN:
            #if canImport(CDNNL)
                var runtime = DNNL.runtime
                if runtime == "OpenMP" { runtime += " (wait policy \(ProcessInfo.processInfo.environment["OMP_WAIT_POLICY"] ?? "default: spin"))" }
                return "oneDNN \(DNNL.version), JIT kernels for \(DNNL.isa) (dnnl_get_effective_cpu_isa), \(runtime), \(threadText)"
            #else
                return "oneDNN not in this build"
            #endif
        default:
            return "reference im2col/Winograd + \(Self.blasName), \(threadText)"
        }
    }

    /// The BLAS behind the reference path, with the kernels OpenBLAS picked for this CPU.
    static var blasName: String {
        #if canImport(Accelerate)
            return "Accelerate"
        #else
            let config = String(cString: openblas_get_config()).split(separator: " ")
            let version = config.count > 1 && config[0] == "OpenBLAS" ? " \(config[1])" : ""
            let core = String(cString: openblas_get_corename())
            return "OpenBLAS\(version) (\(core) kernels; OPENBLAS_CORETYPE overrides)"
        #endif
    }
}

extension Network {
    /// Cores the forward pass uses (`setThreads`; default: all).
    public static var threads: Int { Parallel.workers }
}

extension ForwardKernels {
    /// The instruction set oneDNN's kernels use on this CPU (`avx512_core`, `avx2`, ...), nil without oneDNN.
    public static var instructionSet: String? {
        #if canImport(CDNNL)
            return DNNL.engine != nil ? DNNL.isa : nil
        #else
            return nil
        #endif
    }

    /// Float32 lanes of the vectors those kernels use (16 for AVX-512, 8 for AVX2, 4 for SSE4.1; nil without oneDNN).
    public static var vectorLanes: Int? {
        #if canImport(CDNNL)
            return DNNL.engine != nil ? DNNL.vectorLanes : nil
        #else
            return nil
        #endif
    }
}

extension ForwardKernels {
    /// Makes the OpenMP threads behind oneDNN sleep rather than spin while they wait (executables
    /// call this first thing in `main`). Debian's libdnnl runs on libgomp, whose threads spin at
    /// every barrier by default; on a machine other work shares, a spinning thread holds a core its
    /// partner needs and a batch-1 pass was measured 2-5x slower than with `OMP_WAIT_POLICY=PASSIVE`
    /// (docs/forward.md). libgomp reads the variable once, when it loads, so when it is unset this
    /// sets it and re-executes the process image (Linux, once; the marker
    /// `ALEXCONV_SET_OMP_WAIT_POLICY=1` says alexconv set it). A policy the user set is kept.
    public static func preferPassiveOpenMPWaiting() {
        #if os(Linux) && canImport(CDNNL)
            guard getenv("OMP_WAIT_POLICY") == nil, DNNL.runtime == "OpenMP" else { return }
            setenv("OMP_WAIT_POLICY", "PASSIVE", 1)
            setenv("ALEXCONV_SET_OMP_WAIT_POLICY", "1", 1)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
            // exec failed: carry on with libgomp's default.
            unsetenv("OMP_WAIT_POLICY")
            unsetenv("ALEXCONV_SET_OMP_WAIT_POLICY")
        #endif
    }
}

#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

// MARK: - BLAS bridge

/// The two BLAS calls the forward pass needs, row-major float32, from the system BLAS
/// (OpenBLAS through the CBLAS system-library target on Linux, Accelerate on macOS).
enum BLAS {
    /// C (m x n) = A (m x k) * B (k x n) + beta * C, all row-major with leading dimensions given.
    @inline(__always)
    static func gemm(m: Int, n: Int, k: Int,
                     a: UnsafePointer<Float>, lda: Int, transposeA: Bool = false,
                     b: UnsafePointer<Float>, ldb: Int, transposeB: Bool = false,
                     c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float = 0) {
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y (m) = A (m x n, row-major) * x (n) + beta * y.
    @inline(__always)
    static func gemv(m: Int, n: Int, a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>,
                     y: UnsafeMutablePointer<Float>, beta: Float = 0) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(n), 1, a, Int32(lda), x, 1, beta, y, 1)
    }
}

extension BLAS {
    /// Sets the number of threads the BLAS uses for GEMM (OpenBLAS only; Accelerate decides itself).
    static func setThreads(_ count: Int) {
        #if !canImport(Accelerate)
        openblas_set_num_threads(Int32(max(1, count)))
        #endif
    }

    /// Number of threads the BLAS uses (1 where it cannot be asked).
    static var threads: Int {
        #if canImport(Accelerate)
        return 1
        #else
        return Int(openblas_get_num_threads())
        #endif
    }
}

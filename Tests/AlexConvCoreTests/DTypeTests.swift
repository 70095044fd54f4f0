import Testing

@testable import AlexConvCore

@Suite struct DTypeTests {
    @Test func halfRoundTripIsExactForEveryHalf() {
        for bits in UInt16.min...UInt16.max {
            let f = FloatBits.halfToFloat(bits)
            if f.isNaN {
                #expect(FloatBits.floatToHalf(f) & 0x7C00 == 0x7C00)
                continue
            }
            #expect(FloatBits.floatToHalf(f) == bits, "half bits \(bits)")
        }
    }

    @Test func halfNarrowingRoundsToNearestEven() {
        // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1).
        #expect(FloatBits.floatToHalf(1 + 0x1p-11) == 0x3C00)
        // 1 + 3*2^-11 is halfway between 1+2^-10 (odd) and 1+2^-9 (even): rounds up.
        #expect(FloatBits.floatToHalf(1 + 3 * 0x1p-11) == 0x3C02)
        #expect(FloatBits.floatToHalf(65520) == 0x7C00)  // rounds to infinity
        #expect(FloatBits.floatToHalf(65504) == 0x7BFF)
        #expect(FloatBits.floatToHalf(0x1p-24) == 0x0001)  // smallest subnormal
        #expect(FloatBits.floatToHalf(0x1p-25) == 0x0000)  // tie to even (zero)
        #expect(FloatBits.floatToHalf(-2) == 0xC000)
    }

    @Test func bfloat16RoundsToNearestEven() {
        #expect(FloatBits.floatToBFloat16(1) == 0x3F80)
        #expect(FloatBits.floatToBFloat16(Float(bitPattern: 0x3F80_8000)) == 0x3F80)  // tie, even stays
        #expect(FloatBits.floatToBFloat16(Float(bitPattern: 0x3F81_8000)) == 0x3F82)  // tie, odd rounds up
        #expect(FloatBits.floatToBFloat16(Float(bitPattern: 0x3F80_8001)) == 0x3F81)
        #expect(FloatBits.bfloat16ToFloat(0x3F80) == 1)
    }

    @Test func tensorConvertsBetweenDtypes() throws {
        let t = Tensor([1.5, -2.25, 3e-8, 70000], shape: [4])
        let h = t.contiguous(as: .float16)
        #expect(h.dtype == .float16)
        #expect(h.floats() == [1.5, -2.25, FloatBits.halfToFloat(FloatBits.floatToHalf(3e-8)), .infinity])
        let d = t.contiguous(as: .float64)
        #expect(d.doubles() == [1.5, -2.25, Double(Float(3e-8)), 70000])
        #expect(d.contiguous(as: .float32).floats() == t.floats())
    }

    @Test func bigEndianSourceIsSwapped() throws {
        let bytes: [UInt8] = [0x3F, 0x80, 0, 0, 0xC0, 0, 0, 0]  // 1.0, -2.0 big-endian float32
        let storage = ByteStorage(copying: bytes)
        let t = try Tensor(storage: storage, dtype: .float32, shape: [2], byteOrder: .big)
        #expect(t.floats() == [1, -2])
    }
}

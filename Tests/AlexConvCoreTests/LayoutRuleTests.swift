import Testing

@testable import AlexConvCore

/// Each layout rule against an index formula written out by hand, plus its inverse.
@Suite struct LayoutRuleTests {
    func iota(_ shape: [Int], from start: Float = 0) -> Tensor {
        Tensor((0..<shape.reduce(1, *)).map { Float($0) + start }, shape: shape)
    }

    @Test func hwioToOihwAndBack() {
        let kh = 3
        let kw = 2
        let i = 4
        let o = 5
        let hwio = iota([kh, kw, i, o])
        let oihw = LayoutRules.hwioToOihw(hwio)
        #expect(oihw.shape == [o, i, kh, kw])
        let a = hwio.floats()
        let b = oihw.floats()
        for oo in 0..<o {
            for ii in 0..<i {
                for y in 0..<kh {
                    for x in 0..<kw {
                        #expect(b[((oo * i + ii) * kh + y) * kw + x] == a[((y * kw + x) * i + ii) * o + oo])
                    }
                }
            }
        }
        #expect(LayoutRules.oihwToHwio(oihw).bitwiseEqual(hwio))
    }

    @Test func denseTranspose() {
        let w = iota([3, 4])
        #expect(LayoutRules.transposeDense(w).floats() == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
    }

    /// fc6 in channels-last files has rows indexed by (h, w, c); canonical columns by (c, h, w).
    @Test(arguments: [(2, 3, 3, 3), (4, 6, 6, 3), (3, 1, 2, 3), (1, 2, 5, 3), (16, 6, 6, 40), (5, 3, 4, 70)])
    func fc6PermutationForAnyMap(c: Int, h: Int, w: Int, out: Int) {
        let tf = iota([h * w * c, out])
        let canonical = LayoutRules.fc6FromChannelsLast(tf, channels: c, height: h, width: w)
        #expect(canonical.shape == [out, c * h * w])
        let a = tf.floats()
        let b = canonical.floats()
        for o in 0..<out {
            for cc in 0..<c {
                for y in 0..<h {
                    for x in 0..<w {
                        #expect(b[o * c * h * w + (cc * h + y) * w + x] == a[((y * w + x) * c + cc) * out + o])
                    }
                }
            }
        }
        #expect(LayoutRules.fc6ToChannelsLast(canonical, channels: c, height: h, width: w).bitwiseEqual(tf))
        let hwcColumns = LayoutRules.fc6ColumnsCHWtoHWC(canonical, channels: c, height: h, width: w)
        #expect(LayoutRules.fc6ColumnsHWCtoCHW(hwcColumns, channels: c, height: h, width: w).bitwiseEqual(canonical))
        #expect(hwcColumns.bitwiseEqual(LayoutRules.transposeDense(tf)))
    }

    @Test func expandTowersIsBlockDiagonal() {
        // 4 outputs, 2 groups, 3 inputs per group, 1x1 kernel.
        let grouped = iota([4, 3, 1, 1], from: 1)
        let dense = LayoutRules.expandTowers(grouped, groups: 2)
        #expect(dense.shape == [4, 6, 1, 1])
        #expect(
            dense.floats() == [
                1, 2, 3, 0, 0, 0,
                4, 5, 6, 0, 0, 0,
                0, 0, 0, 7, 8, 9,
                0, 0, 0, 10, 11, 12,
            ])
    }

    @Test func collapseTowersInvertsExpandExactly() throws {
        let grouped = iota([6, 4, 3, 3], from: -100)
        let dense = LayoutRules.expandTowers(grouped, groups: 2)
        #expect(try LayoutRules.collapseTowers(dense, groups: 2, layer: "conv2").bitwiseEqual(grouped))
    }

    @Test func collapseTowersRefusesNonZeroOffBlocksAndNamesTheLargest() {
        var values = [Float](repeating: 0, count: 4 * 6)
        values[0] = 1
        values[5] = 0.25  // output 0 (group 0) reading input 5 (group 1)
        values[6 * 3 + 1] = -0.5  // output 3 (group 1) reading input 1 (group 0)
        let dense = Tensor(values, shape: [4, 6, 1, 1])
        do {
            _ = try LayoutRules.collapseTowers(dense, groups: 2, layer: "conv4")
            Issue.record("expected an error")
        } catch let error as ModelError {
            #expect(error.tensor == "conv4.weight")
            #expect(error.description.contains("0.5"))
        } catch { Issue.record("unexpected \(error)") }
    }

    @Test func swapInputChannelsReversesAxis1() {
        let w = iota([2, 3, 1, 1])
        #expect(LayoutRules.swapInputChannels(w).floats() == [2, 1, 0, 5, 4, 3])
    }
}

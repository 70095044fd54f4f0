import Foundation

// MARK: - Verification reports: text, JSON, JUnit XML

extension VerificationReport {
    /// Human-readable: one line per case, then a summary ("all 11 cases passed" / "2 of 11 cases failed").
    public var text: String {
        var lines: [String] = []
        for c in cases {
            lines.append("\(c.passed ? "PASS" : "FAIL")  \(c.name)  [\(c.kind.rawValue)]  \(c.detail)")
        }
        lines.append(passed ? "all \(cases.count) cases passed" : "verification failed: \(failures) of \(cases.count) cases failed")
        return lines.joined(separator: "\n")
    }

    /// JSON: {"passed": bool, "tolerance": ..., "cases": [...]}, sorted keys.
    public var json: String {
        struct Output: Encodable {
            let expectations: String
            let passed: Bool
            let failures: Int
            let tolerance: Tolerance
            let cases: [CaseResult]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let output = Output(expectations: expectations, passed: passed, failures: failures, tolerance: tolerance, cases: cases)
        return String(decoding: (try? encoder.encode(output)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// JUnit XML (one testsuite named "alexconv verify", one testcase per case) for CI systems.
    public var junit: String {
        let total = cases.reduce(0.0) { $0 + $1.seconds }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml += "<testsuites tests=\"\(cases.count)\" failures=\"\(failures)\" time=\"\(String(format: "%.3f", total))\">\n"
        xml += "  <testsuite name=\"alexconv verify\" tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"0\" time=\"\(String(format: "%.3f", total))\">\n"
        for c in cases {
            xml += "    <testcase classname=\"\(escapeXML(c.model))\" name=\"\(escapeXML(c.name))\" time=\"\(String(format: "%.3f", c.seconds))\""
            if c.passed {
                xml += "/>\n"
            } else {
                xml += ">\n      <failure message=\"\(escapeXML(c.detail))\" type=\"\(c.kind.rawValue)\">\(escapeXML(c.detail))</failure>\n    </testcase>\n"
            }
        }
        xml += "  </testsuite>\n</testsuites>\n"
        return xml
    }
}

/// `s` with XML's special characters escaped (attribute- and text-safe).
func escapeXML(_ s: String) -> String {
    var out = ""
    for ch in s.unicodeScalars {
        switch ch {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        default:
            if ch.value < 0x20 && ch != "\n" && ch != "\t" { out += " " } else { out.unicodeScalars.append(ch) }
        }
    }
    return out
}

import AlexConvCore
import AlexConvImages
import Foundation

// MARK: - Self-contained HTML reports (evaluate, compare, diff)

/// One self-contained HTML page per report: inline CSS and SVG, thumbnails as `data:` URIs, no
/// script and no network (a Content-Security-Policy forbids any other source). Every file name,
/// class name and label comes from users' folders and files, so every text is escaped.
public enum HTMLReport {
    /// Most images shown with thumbnails in one section (the rest are counted).
    public static let maxImagesShown = 200
    /// Longest side of a thumbnail, pixels.
    public static let thumbnailSide = 112

    /// `text` safe in HTML text and in quoted attribute values; control characters and bidirectional
    /// overrides (which would make a file name read backwards) become U+FFFD.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\t", "\n": out.unicodeScalars.append(scalar)
            default:
                let bidi = (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value)
                if scalar.properties.generalCategory == .control || bidi { out += "\u{FFFD}" } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }

    static let style = """
        :root{--fg:#1d2430;--muted:#5b6576;--line:#d8dde5;--bg:#f6f7f9;--card:#fff;--ok:#1f7a3f;--bad:#b42318;--accent:#2456a6;--warn:#a15c00}
        *{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
        header{background:#17243a;color:#fff;padding:18px 28px}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#c9d3e3}
        main{padding:20px 28px;max-width:1280px}h2{font-size:16px;margin:26px 0 10px}
        .cards{display:flex;flex-wrap:wrap;gap:12px}.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 16px;min-width:150px}
        .card .v{font-size:24px;font-weight:600}.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
        table{border-collapse:collapse;background:var(--card);border:1px solid var(--line);width:100%}th,td{padding:5px 9px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
        th{background:#eef1f5;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:0}
        dt{color:var(--muted)}dd{margin:0;word-break:break-all}.ok{color:var(--ok);font-weight:600}.bad{color:var(--bad);font-weight:600}.note{color:var(--warn)}
        .banner{padding:10px 14px;border-radius:6px;margin:12px 0;font-weight:600}.banner.ok{background:#e3f4e8}.banner.bad{background:#fde7e5}.banner.warn{background:#fff1dc;color:var(--warn)}
        .grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:12px}.item{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px;display:flex;gap:10px}
        .item img,.item .none{width:\(thumbnailSide)px;height:\(thumbnailSide)px;object-fit:contain;image-rendering:pixelated;background:#e9edf2;border-radius:4px;flex:none}
        .item .none{display:flex;align-items:center;justify-content:center;color:var(--muted);font-size:12px}.item .t{flex:1;min-width:0}.path{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
        .bar{background:#e9edf2;border-radius:3px;height:8px;width:100%}.bar span{display:block;height:8px;border-radius:3px;background:var(--accent)}svg text{font:11px system-ui,sans-serif;fill:var(--fg)}
        footer{color:var(--muted);padding:20px 28px}
        """

    /// A whole page: `title` in the header with `subtitle`, then `body`.
    static func page(title: String, subtitle: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title><style>\(style)</style></head>
        <body><header><h1>\(escape(title))</h1><p>\(escape(subtitle))</p></header>
        <main>
        \(body)
        </main>
        <footer>Written by alexconv. Self-contained: no scripts, no network; images are embedded thumbnails.</footer>
        </body></html>

        """
    }

    static func card(_ key: String, _ value: String, _ cssClass: String = "") -> String {
        "<div class=\"card\"><div class=\"k\">\(escape(key))</div><div class=\"v \(cssClass)\">\(escape(value))</div></div>"
    }

    static func definitions(_ rows: [(String, String)]) -> String {
        "<dl>" + rows.map { "<dt>\(escape($0.0))</dt><dd>\(escape($0.1))</dd>" }.joined() + "</dl>"
    }

    static func percent(_ value: Double) -> String { String(format: "%.2f%%", value) }

    /// A horizontal bar of `fraction` (0...1).
    static func bar(_ fraction: Double) -> String {
        "<div class=\"bar\"><span style=\"width:\(String(format: "%.1f", max(0, min(1, fraction)) * 100))%\"></span></div>"
    }

    /// An inline SVG of top-k probability bars; `highlight` (the label) drawn green, others blue.
    static func topBars(_ top: [Int], _ probabilities: [Float], name: (Int) -> String, highlight: Int?, title: String? = nil) -> String {
        let longest = top.map { min(24, name($0).count) }.max() ?? 4
        let rowHeight = 18
        let labelWidth = max(24, longest * 7 + 6)
        let barWidth = 110
        let height = rowHeight * top.count + (title == nil ? 0 : 16)
        let width = labelWidth + barWidth + 52
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(width) \(height)\" width=\"100%\" style=\"max-width:\(width)px\" role=\"img\">"
        var y = 0
        if let title {
            svg += "<text x=\"0\" y=\"11\" font-weight=\"600\">\(escape(title))</text>"
            y = 16
        }
        for (index, p) in zip(top, probabilities) {
            let label = name(index)
            let shown = label.count > 24 ? String(label.prefix(23)) + "…" : label
            let colour = index == highlight ? "#1f7a3f" : "#2456a6"
            let width = max(1, Int(Double(p) * Double(barWidth)))
            svg += "<text x=\"0\" y=\"\(y + 12)\"><title>\(escape(label))</title>\(escape(shown))</text>"
            svg += "<rect x=\"\(labelWidth)\" y=\"\(y + 3)\" width=\"\(barWidth)\" height=\"11\" rx=\"2\" fill=\"#e9edf2\"/>"
            svg += "<rect x=\"\(labelWidth)\" y=\"\(y + 3)\" width=\"\(width)\" height=\"11\" rx=\"2\" fill=\"\(colour)\"/>"
            svg += "<text x=\"\(labelWidth + barWidth + 6)\" y=\"\(y + 12)\">\(String(format: "%.1f%%", Double(p) * 100))</text>"
            y += rowHeight
        }
        return svg + "</svg>"
    }

    /// The thumbnail of the image at `path` as an `<img>`, or a placeholder when it cannot be read.
    static func thumbnail(_ path: String, alt: String) -> String {
        guard let uri = try? ImageEncoder.thumbnailDataURI(path: path, maxSide: thumbnailSide) else {
            return "<div class=\"none\">no preview</div>"
        }
        return "<img src=\"\(uri)\" alt=\"\(escape(alt))\">"
    }

    static func more(_ total: Int, shown: Int) -> String {
        total > shown ? "<p class=\"note\">\(total - shown) more not shown (the first \(shown) are).</p>" : ""
    }
}

// MARK: - evaluate

extension EvaluationResult {
    /// The evaluation as one self-contained HTML page: the summary against the expectations, the
    /// per-class table, the misclassified images with their top-5 bars, the unreadable images.
    /// Thumbnails are read from `images`.
    public func html() -> String {
        var body = ""
        if interrupted {
            body += "<div class=\"banner warn\">Interrupted: partial result after \(evaluated + unreadable.count) of \(planned) images.</div>"
        }
        if !expectations.isEmpty {
            body +=
                passed
                ? "<div class=\"banner ok\">Every expectation met.</div>"
                : "<div class=\"banner bad\">Expectation missed: \(HTMLReport.escape(expectations.filter { !$0.passed }.map(\.summary).joined(separator: "; ")))</div>"
        }
        body += "<div class=\"cards\">"
        body += HTMLReport.card("top-1", HTMLReport.percent(top1)) + HTMLReport.card("top-\(min(5, classes))", HTMLReport.percent(top5))
        if topK != 1 && topK != 5 { body += HTMLReport.card("top-\(topK)", HTMLReport.percent(topKAccuracy)) }
        body += HTMLReport.card("images", "\(evaluated)") + HTMLReport.card("unreadable", "\(unreadable.count)", unreadable.isEmpty ? "" : "bad")
        if rates.images > 0 { body += HTMLReport.card("images/s", String(format: "%.1f", rates.imagesPerSecond)) }
        body += "</div>"
        if !expectations.isEmpty {
            body += "<h2>Expectations</h2><table><tr><th>metric</th><th>expected</th><th>measured</th><th>tolerance</th><th>result</th></tr>"
            for e in expectations {
                body += "<tr><td>\(e.metric)</td><td class=\"n\">\(String(format: "%.2f%%", e.expected))</td><td class=\"n\">\(HTMLReport.percent(e.measured))</td>"
                body += "<td class=\"n\">± \(String(format: "%g", e.tolerance))</td><td class=\"\(e.passed ? "ok" : "bad")\">\(e.passed ? "met" : "missed")</td></tr>"
            }
            body += "</table>"
        }
        body += "<h2>Run</h2>"
        var rows: [(String, String)] = [
            ("model", "\(model) (\(architecture), \(classes) classes)"), ("images", images),
            ("labels", labelSource), ("preprocessing", preprocessing),
        ]
        if resumed > 0 { rows.append(("resumed", "\(resumed) predictions from the resume file")) }
        if rates.images > 0 { rows.append(("speed", rates.summary)) }
        rows += notes.map { ("note", $0) }
        body += HTMLReport.definitions(rows)

        body += "<h2>Per class</h2><table><tr><th>class</th><th>images</th><th>top-1</th><th></th><th>top-5</th><th>mistaken for</th></tr>"
        for c in perClass.sorted(by: { $0.top1 != $1.top1 ? $0.top1 < $1.top1 : $0.index < $1.index }) {
            let confused = c.confusedWith.map { "\($0.name) (\($0.count))" }.joined(separator: ", ")
            body += "<tr><td>\(HTMLReport.escape(EvaluationResult.classWords(c.index, c.name)))</td><td class=\"n\">\(c.images)</td>"
            body += "<td class=\"n\">\(HTMLReport.percent(c.top1))</td><td style=\"width:120px\">\(HTMLReport.bar(c.top1 / 100))</td>"
            body += "<td class=\"n\">\(HTMLReport.percent(c.top5))</td><td>\(HTMLReport.escape(confused))</td></tr>"
        }
        body += "</table>"

        let wrong = misclassified
        body += "<h2>Misclassified images (\(wrong.count))</h2><div class=\"grid\">"
        for p in wrong.prefix(HTMLReport.maxImagesShown) {
            let label = p.label.map { EvaluationResult.classWords($0, className($0)) } ?? "unlabelled"
            body += "<div class=\"item\">" + HTMLReport.thumbnail(images + "/" + p.image, alt: p.image)
            body += "<div class=\"t\"><div class=\"path\">\(HTMLReport.escape(p.image))</div><div>label: <b>\(HTMLReport.escape(label))</b></div>"
            body += HTMLReport.topBars(p.top.prefix(5).map { $0 }, Array(p.probabilities.prefix(5)), name: { EvaluationResult.classWords($0, className($0)) }, highlight: p.label)
            body += "</div></div>"
        }
        body += "</div>" + HTMLReport.more(wrong.count, shown: HTMLReport.maxImagesShown)
        if !unreadable.isEmpty {
            body += "<h2>Unreadable images (\(unreadable.count), counted out of the accuracy)</h2><table><tr><th>image</th><th>why</th></tr>"
            for u in unreadable.prefix(1000) { body += "<tr><td class=\"path\">\(HTMLReport.escape(u.image))</td><td>\(HTMLReport.escape(u.reason))</td></tr>" }
            body += "</table>" + HTMLReport.more(unreadable.count, shown: 1000)
        }
        return HTMLReport.page(
            title: "alexconv evaluate: " + String(format: "top-1 %.2f%%, top-5 %.2f%%", top1, top5),
            subtitle: "\(model) on \(images)", body: body)
    }
}

// MARK: - compare

extension ComparisonResult {
    /// The comparison as one self-contained HTML page: agreement, the images whose top-1 flipped
    /// with both models' top-5 bars, and the images whose probabilities moved most.
    public func html() -> String {
        let name: (Int) -> String = { ImageNetClasses.label($0, classes: classes) }
        var body =
            agree
            ? "<div class=\"banner ok\">The models agree on every image's top-1 class\(top1Agreement < 100 ? " within the minimum" : "").</div>"
            : "<div class=\"banner bad\">The models disagree: top-1 agreement \(HTMLReport.percent(top1Agreement)), below \(HTMLReport.percent(minimumAgreement)).</div>"
        if interrupted { body += "<div class=\"banner warn\">Interrupted: partial result after \(compared + unreadable.count) of \(planned) images.</div>" }
        body += "<div class=\"cards\">" + HTMLReport.card("top-1 agreement", HTMLReport.percent(top1Agreement), agree ? "ok" : "bad")
        body += HTMLReport.card("top-\(min(5, classes)) overlap", HTMLReport.percent(top5Overlap))
        body += HTMLReport.card("largest |pA - pB|", String(format: "%.3g", maxProbabilityDifference))
        body += HTMLReport.card("images", "\(compared)") + HTMLReport.card("flipped", "\(flipped.count)", flipped.isEmpty ? "" : "bad") + "</div>"
        body +=
            "<h2>Run</h2>"
            + HTMLReport.definitions(
                [
                    ("A", "\(modelA) (\(architectureA))"), ("B", "\(modelB) (\(architectureB))"),
                    ("images", images), ("A preprocessing", preprocessingA), ("B preprocessing", preprocessingB),
                    ("largest difference at", maxDifferenceImage ?? "-"),
                ] + notes.map { ("note", $0) })
        func grid(_ title: String, _ entries: [ImageDisagreement], total: Int) -> String {
            var html = "<h2>\(HTMLReport.escape(title))</h2><div class=\"grid\">"
            for d in entries.prefix(HTMLReport.maxImagesShown) {
                html += "<div class=\"item\">" + HTMLReport.thumbnail(images + "/" + d.image, alt: d.image)
                html += "<div class=\"t\"><div class=\"path\">\(HTMLReport.escape(d.image))</div>"
                html += "<div>max |pA - pB| \(String(format: "%.3g", d.maxProbabilityDifference))</div>"
                html += HTMLReport.topBars(d.topA, d.probabilitiesA, name: name, highlight: nil, title: "A")
                html += HTMLReport.topBars(d.topB, d.probabilitiesB, name: name, highlight: d.topA.first, title: "B")
                html += "</div></div>"
            }
            return html + "</div>" + HTMLReport.more(total, shown: HTMLReport.maxImagesShown)
        }
        body += grid("Images whose top-1 differs (\(flipped.count))", flipped, total: flipped.count)
        body += grid("Largest probability differences", largestDifferences, total: largestDifferences.count)
        if !unreadable.isEmpty {
            body += "<h2>Unreadable images (\(unreadable.count))</h2><table><tr><th>image</th><th>why</th></tr>"
            for u in unreadable.prefix(1000) { body += "<tr><td class=\"path\">\(HTMLReport.escape(u.image))</td><td>\(HTMLReport.escape(u.reason))</td></tr>" }
            body += "</table>"
        }
        return HTMLReport.page(
            title: "alexconv compare: " + String(format: "top-1 agreement %.2f%%", top1Agreement),
            subtitle: "\(modelA) vs \(modelB) on \(images)", body: body)
    }
}

// MARK: - diff

extension ModelDiff {
    /// The diff as one self-contained HTML page: the per-layer divergence (largest absolute error
    /// of each layer's activations, log scale) as a chart with the first divergent layer marked,
    /// then the tensor table. `a` and `b` name the models.
    public func html(a: String, b: String) -> String {
        var body =
            agree
            ? "<div class=\"banner ok\">The models agree within tolerance.</div>"
            : "<div class=\"banner bad\">The models differ beyond tolerance\(firstDivergentLayer.map { ": first divergent layer \($0.index + 1) \($0.name) (\($0.type))" } ?? "").</div>"
        body += "<div class=\"cards\">" + HTMLReport.card("tensors", "\(tensors.count)")
        body += HTMLReport.card("tensors outside", "\(tensors.filter { !$0.withinTolerance }.count)", tensors.allSatisfy(\.withinTolerance) ? "ok" : "bad")
        if !layers.isEmpty {
            body += HTMLReport.card("layers outside", "\(layers.filter { !$0.withinTolerance }.count) of \(layers.count)", layers.allSatisfy(\.withinTolerance) ? "ok" : "bad")
        }
        body +=
            "</div><h2>Run</h2>"
            + HTMLReport.definitions(
                [
                    ("A (reference)", a), ("B", b),
                    ("tolerance", String(format: "atol %g, rtol %g", tolerance.atol, tolerance.rtol)),
                ] + notes.map { ("note", $0) })
        if !layers.isEmpty {
            body += "<h2>Per-layer divergence (largest |B - A| of the activations, log scale)</h2>" + layerChart()
            body += "<table><tr><th>#</th><th>layer</th><th>type</th><th>max abs</th><th>max rel</th><th>outside</th></tr>"
            for l in layers {
                let mark = l.withinTolerance ? "ok" : "bad"
                if let c = l.comparison {
                    body += "<tr><td class=\"n\">\(l.index + 1)</td><td>\(HTMLReport.escape(l.name))</td><td>\(HTMLReport.escape(l.type))</td>"
                    body += "<td class=\"n \(mark)\">\(String(format: "%.3g", c.maxAbsError))</td><td class=\"n\">\(String(format: "%.3g", c.maxRelError))</td>"
                    body += "<td class=\"n\">\(c.failures) of \(c.count)</td></tr>"
                } else {
                    body +=
                        "<tr><td class=\"n\">\(l.index + 1)</td><td>\(HTMLReport.escape(l.name))</td><td>\(HTMLReport.escape(l.type))</td><td colspan=\"3\" class=\"bad\">\(HTMLReport.escape(l.note ?? "not compared"))</td></tr>"
                }
            }
            body += "</table>"
        }
        body += "<h2>Tensors</h2><table><tr><th>tensor</th><th>shape</th><th>max abs</th><th>max rel</th><th>outside</th></tr>"
        for t in tensors {
            if let c = t.comparison {
                body += "<tr><td>\(HTMLReport.escape(t.name))</td><td>\(c.shape)</td><td class=\"n \(t.withinTolerance ? "ok" : "bad")\">\(String(format: "%.3g", c.maxAbsError))</td>"
                body += "<td class=\"n\">\(String(format: "%.3g", c.maxRelError))</td><td class=\"n\">\(c.failures) of \(c.count)</td></tr>"
            } else {
                let why = t.shapeA == nil ? "only in B" : t.shapeB == nil ? "only in A" : "shapes differ: A \(t.shapeA!) vs B \(t.shapeB!)"
                body += "<tr><td>\(HTMLReport.escape(t.name))</td><td colspan=\"4\" class=\"bad\">\(HTMLReport.escape(why))</td></tr>"
            }
        }
        body += "</table>"
        return HTMLReport.page(title: "alexconv diff: " + (agree ? "models agree" : "models differ"), subtitle: "\(a) vs \(b)", body: body)
    }

    /// An SVG bar chart: one bar per layer, height log10 of its largest absolute error, red when
    /// outside the tolerance, the first divergent layer labelled.
    func layerChart() -> String {
        let width = 960
        let height = 270
        let left = 56
        let bottom = 64
        let top = 24
        let errors = layers.map { $0.comparison.map { max($0.maxAbsError, 1e-12) } }
        let logs = errors.compactMap { $0 }.map { log10($0) }
        let low = floor(min(logs.min() ?? -8, log10(max(tolerance.atol, 1e-12)))) - 1
        let high = max(ceil(logs.max() ?? 0), low + 2)
        let plotHeight = Double(height - top - bottom)
        func y(_ value: Double) -> Double { Double(top) + plotHeight * (high - value) / (high - low) }
        let slot = Double(width - left - 10) / Double(max(layers.count, 1))
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" role=\"img\" style=\"background:#fff;border:1px solid #d8dde5;border-radius:8px\">"
        var exponent = low
        while exponent <= high {
            let yy = y(exponent)
            svg += "<line x1=\"\(left)\" x2=\"\(width - 10)\" y1=\"\(String(format: "%.1f", yy))\" y2=\"\(String(format: "%.1f", yy))\" stroke=\"#eef1f5\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(String(format: "%.1f", yy + 4))\" text-anchor=\"end\">1e\(Int(exponent))</text>"
            exponent += 1
        }
        let toleranceY = y(log10(max(tolerance.atol, 1e-12)))
        svg += "<line x1=\"\(left)\" x2=\"\(width - 10)\" y1=\"\(String(format: "%.1f", toleranceY))\" y2=\"\(String(format: "%.1f", toleranceY))\" stroke=\"#a15c00\" stroke-dasharray=\"5 4\"/>"
        svg += "<text x=\"\(width - 12)\" y=\"\(String(format: "%.1f", toleranceY - 4))\" text-anchor=\"end\" style=\"fill:#a15c00\">atol \(String(format: "%g", tolerance.atol))</text>"
        let first = firstDivergentLayer?.index
        for (i, layer) in layers.enumerated() {
            let x = Double(left) + slot * Double(i) + slot * 0.15
            let barWidth = max(2, slot * 0.7)
            if let error = errors[i] {
                let yy = y(log10(error))
                let colour = layer.withinTolerance ? "#2456a6" : "#b42318"
                svg +=
                    "<rect x=\"\(String(format: "%.1f", x))\" y=\"\(String(format: "%.1f", yy))\" width=\"\(String(format: "%.1f", barWidth))\" height=\"\(String(format: "%.1f", max(1, y(low) - yy)))\" fill=\"\(colour)\"><title>\(HTMLReport.escape("\(layer.name): max abs \(String(format: "%.3g", error))"))</title></rect>"
            } else {
                svg += "<text x=\"\(String(format: "%.1f", x))\" y=\"\(String(format: "%.1f", y(low) - 4))\" style=\"fill:#b42318\">n/a</text>"
            }
            let labelX = x + barWidth / 2
            svg += "<text transform=\"translate(\(String(format: "%.1f", labelX)),\(height - bottom + 12)) rotate(45)\">\(HTMLReport.escape(layer.name))</text>"
            if i == first {
                svg += "<text x=\"\(String(format: "%.1f", labelX))\" y=\"\(top + 2)\" text-anchor=\"start\" style=\"fill:#b42318;font-weight:600\">▼ first divergent</text>"
            }
        }
        return svg + "</svg>"
    }
}

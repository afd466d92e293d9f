/// A result table, printed as Markdown so it can go into docs/BENCHMARKS.md as it is.
struct Table {
    var title: String
    var columns: [String]
    var rows: [[String]] = []
    /// How the figures were taken; printed under the table.
    var notes: [String] = []

    init(_ title: String, columns: [String]) {
        self.title = title
        self.columns = columns
    }

    mutating func add(_ row: [String]) {
        rows.append(row + Array(repeating: "", count: max(0, columns.count - row.count)))
    }

    var markdown: String {
        var widths = columns.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            "| " + cells.enumerated().map { index, cell in cell.padding(toLength: widths[index], withPad: " ", startingAt: 0) }
                .joined(separator: " | ") + " |"
        }
        var text = "### \(title)\n\n"
        text += line(columns) + "\n"
        text += "|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|\n"
        for row in rows { text += line(row) + "\n" }
        if !notes.isEmpty { text += "\n" + notes.map { "- " + $0 }.joined(separator: "\n") + "\n" }
        return text
    }
}

/// A goal: a figure over rounds (a ratio of a path to its baseline, a time or a count) and the
/// most it may be, judged on the unfavourable end of its spread (the upper end: every goal is "≤").
struct Goal {
    enum Unit {
        case ratio, milliseconds, failures

        func format(_ value: Double) -> String {
            switch self {
            case .ratio: Format.ratio(value)
            case .milliseconds: Format.number(value) + " ms"
            case .failures: Format.grouped(Int(value.rounded()))
            }
        }
    }

    var name: String
    var figure: Spread?
    var limit: Double
    var unit: Unit = .ratio
    /// Why there is no figure, when there is none.
    var missingReason: String?

    var met: Bool? { figure.map { $0.high <= limit } }

    var verdict: String {
        guard let met else { return "not measured" + (missingReason.map { " (\($0))" } ?? "") }
        return met ? "met" : "missed"
    }
}

/// Number formats shared by every table.
enum Format {
    /// A ratio with its spread: `1.05× (IQR 1.01–1.12×)`.
    static func ratio(_ spread: Spread?) -> String {
        guard let spread else { return "—" }
        switch spread.kind {
        case .interquartile: return "\(ratio(spread.value)) (IQR \(ratio(spread.low))–\(ratio(spread.high)))"
        case .bootstrap95: return "\(ratio(spread.value)) (95 % \(ratio(spread.low))–\(ratio(spread.high)))"
        case .single: return ratio(spread.value)
        }
    }

    static func ratio(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "—" }
        return fixed(value, 2) + "×"
    }

    static func fixed(_ value: Double?, _ digits: Int) -> String {
        guard let value, value.isFinite else { return "—" }
        var text = String(Int((Swift.abs(value) * pow10(digits)).rounded()))
        if digits > 0 {
            while text.count <= digits { text = "0" + text }
            text.insert(".", at: text.index(text.endIndex, offsetBy: -digits))
        }
        return (value < 0 ? "-" : "") + text
    }

    /// Three significant figures at most, no exponent: 12.3, 0.456, 12345.
    static func number(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "—" }
        let magnitude = Swift.abs(value)
        if magnitude >= 100 { return grouped(Int(value.rounded())) }
        if magnitude >= 10 { return fixed(value, 1) }
        if magnitude >= 1 { return fixed(value, 2) }
        return fixed(value, 3)
    }

    static func grouped(_ value: Int) -> String {
        let digits = String(Swift.abs(value))
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return (value < 0 ? "-" : "") + out
    }

    private static func pow10(_ digits: Int) -> Double {
        (0..<digits).reduce(1.0) { value, _ in value * 10 }
    }
}

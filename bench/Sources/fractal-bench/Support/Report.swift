import Foundation

/// What a run prints: tables as they are finished, then every goal with its verdict.
final class Report {
    private(set) var goals: [Goal] = []

    func print(_ table: Table) {
        Swift.print(table.markdown)
        fflush(nil)
    }

    func note(_ text: String) {
        FileHandle.standardError.write(Data(("fractal-bench: " + text + "\n").utf8))
    }

    func record(_ goal: Goal) {
        goals.append(goal)
    }

    var goalsTable: Table {
        var table = Table("Goals at a glance", columns: ["goal", "median", "spread", "limit", "verdict on the unfavourable end"])
        for goal in goals {
            let unit = goal.unit
            table.add([
                goal.name, goal.figure.map { unit.format($0.value) } ?? "—", goal.figure.map { $0.cell(unit.format) } ?? "—",
                "≤ " + unit.format(goal.limit),
                goal.verdict + (goal.figure.map { $0.kind == .single ? "" : " (upper end \(unit.format($0.high)))" } ?? ""),
            ])
        }
        table.notes = [
            "Every goal is \"≤ limit\" and is met only when the upper end of its spread is within the limit: the upper quartile of per-round ratios (IQR) where a round is itself an aggregate (thousands of events, hundreds of frames), or the upper end of a 95 % bootstrap interval over rounds where a round holds one sample a path (leases, container starts: their median, their p99 ratio, the mean CPU per lease). Each round measures a path and its baseline back to back, alternating which goes first.",
        ]
        return table
    }
}

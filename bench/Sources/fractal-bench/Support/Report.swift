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
        var table = Table("Goals", columns: ["goal", "measured", "limit", "verdict"])
        for goal in goals {
            table.add([goal.name, Format.ratio(goal.ratio), "≤ " + Format.ratio(goal.limit), goal.verdict])
        }
        return table
    }
}

@testable import Agent
import Testing

@Suite struct JSONDocumentTests {
    func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue {
        try JSONValue.parse(Array(text.utf8))
    }

    func syntaxError(_ text: String) -> JSONSyntaxError? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return error
        }
    }

    @Test func parsesEveryKindOfValue() throws {
        let value = try parse(#" {"a": [1, -2.5e3, true, false, null], "b": {"c": "x\ty\u00e9\ud83d\ude00"}} "#)
        #expect(value["a"] == .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null]))
        #expect(value["b"]?["c"] == .string("x\tyé😀"))
    }

    @Test func keepsMemberOrder() throws {
        guard case .object(let members) = try parse(#"{"z": 1, "a": 2, "m": 3}"#) else {
            Issue.record("not an object")
            return
        }
        #expect(members.map(\.key) == ["z", "a", "m"])
    }

    @Test func acceptsAByteOrderMark() throws {
        #expect(try JSONValue.parse([0xEF, 0xBB, 0xBF] + Array("{}".utf8)) == .object([]))
    }

    @Test(arguments: [
        // A missing comma between members on line 3.
        ("{\n  \"a\": 1\n  \"b\": 2\n}", 3, 3, "expected ',' or '}'"),
        // A trailing comma: the error is at the closing brace.
        ("{\"a\": [1, 2,]}", 1, 13, "expected a value"),
        ("", 1, 1, "empty"),
        ("{\"a\": tru}", 1, 7, "expected 'true'"),
        ("{\"a\": \"unterminated}", 1, 7, "unterminated string"),
        ("[1] [2]", 1, 5, "after the end"),
        ("{\"a\": 01}", 1, 8, "expected ',' or '}'"),
        ("{\"a\": \"\\q\"}", 1, 8, "invalid escape"),
        ("{\"a\": 1,\n\"b\": }", 2, 6, "expected a value"),
        ("{'a': 1}", 1, 2, "double quotes"),
        // Columns count characters: 'é' is two bytes but one column.
        ("{\"é\": x}", 1, 7, "expected a value"),
        ("{\"a\": \"tab\there\"}", 1, 11, "control character"),
    ])
    func reportsLineAndColumn(text: String, line: Int, column: Int, reason: String) throws {
        let error = try #require(syntaxError(text))
        #expect(error.line == line, "\(error)")
        #expect(error.column == column, "\(error)")
        #expect(error.reason.contains(reason), "\(error)")
    }

    @Test func refusesInvalidUTF8() throws {
        let error = try #require(throws: JSONSyntaxError.self) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(error.reason.contains("UTF-8"))
        #expect(error.column == 2)
    }

    @Test func boundsNesting() throws {
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        let error = try #require(syntaxError(deep))
        #expect(error.reason.contains("nesting"))
    }

    @Test func emptyMeansNullOrEmptyContainer() {
        #expect(JSONValue.null.isEmpty)
        #expect(JSONValue.array([]).isEmpty)
        #expect(JSONValue.object([]).isEmpty)
        #expect(!JSONValue.bool(false).isEmpty)
        #expect(!JSONValue.string("").isEmpty)
    }
}

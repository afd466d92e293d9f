import DeviceManager
import Testing

@Suite struct DirectoryPlaceholderTests {
    let id = try! FractalID("session-1")

    @Test func substitutesTheDocumentedName() {
        #expect(Placeholder.substitute("/srv/%%FRACTAL_ID_PLACEHOLDER%%/cache", id: id) == "/srv/session-1/cache")
    }

    @Test func substitutesTheOlderName() {
        #expect(Placeholder.substitute("/srv/%%FRACTAL_CONTAINER_SPECIFIC_DIR_PLACEHOLDER%%", id: id) == "/srv/session-1")
    }

    @Test func substitutesEveryOccurrenceOfBoth() {
        let template = "/srv/%%FRACTAL_ID_PLACEHOLDER%%/x-%%FRACTAL_CONTAINER_SPECIFIC_DIR_PLACEHOLDER%%-%%FRACTAL_ID_PLACEHOLDER%%"
        #expect(Placeholder.substitute(template, id: id) == "/srv/session-1/x-session-1-session-1")
    }

    @Test func leavesATemplateWithoutPlaceholderAlone() {
        #expect(Placeholder.substitute("/srv/shared", id: id) == "/srv/shared")
    }

    @Test func recognisesBothNames() {
        #expect(Placeholder.containsPlaceholder("/srv/%%FRACTAL_ID_PLACEHOLDER%%"))
        #expect(Placeholder.containsPlaceholder("/srv/%%FRACTAL_CONTAINER_SPECIFIC_DIR_PLACEHOLDER%%"))
        #expect(!Placeholder.containsPlaceholder("/srv/shared"))
        #expect(!Placeholder.containsPlaceholder("/srv/%%FRACTAL_ID%%"))
        #expect(!Placeholder.containsPlaceholder("/srv/%FRACTAL_ID_PLACEHOLDER%"))
    }
}

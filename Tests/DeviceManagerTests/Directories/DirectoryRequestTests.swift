import DeviceManager
import Foundation
import Testing

@Suite struct DirectoryRequestTests {
    static let template = "/srv/fractal/%%FRACTAL_ID_PLACEHOLDER%%"

    @Test func aBareTemplateTakesTheDefaults() throws {
        let request = try DirectoryRequest.parse(Self.template)
        #expect(request == DirectoryRequest(template: Self.template))
        #expect(request.mode == 0o750)
        #expect(request.owner == nil && request.group == nil)
        // A tmpfs with the daemon's caps: a session cannot fill the filesystem the directory is made in.
        #expect(request.mount == .tmpfs(sizeBytes: nil, inodes: nil))
        #expect(!request.readOnly && !request.noExec && request.noSuid && request.noDev && !request.keep)
    }

    @Test func parsesEveryOption() throws {
        let request = try DirectoryRequest.parse(Self.template + ",tmpfs=64M,mode=0700,owner=1000:1001,ro,noexec,suid,dev,keep")
        #expect(request.mount == .tmpfs(sizeBytes: 64 << 20))
        #expect(request.mode == 0o700)
        #expect(request.owner == 1000 && request.group == 1001)
        #expect(request.readOnly && request.noExec && !request.noSuid && !request.noDev && request.keep)
    }

    @Test func parsesInodesPlainAndTheCapsOfADefaultTmpfs() throws {
        #expect(try DirectoryRequest.parse(Self.template + ",inodes=4096").mount == .tmpfs(sizeBytes: nil, inodes: 4096))
        #expect(try DirectoryRequest.parse(Self.template + ",inodes=10,tmpfs=1M").mount == .tmpfs(sizeBytes: 1 << 20, inodes: 10))
        #expect(try DirectoryRequest.parse(Self.template + ",tmpfs=1M,inodes=10").mount == .tmpfs(sizeBytes: 1 << 20, inodes: 10))
        let plain = try DirectoryRequest.parse(Self.template + ",plain,mode=0700")
        #expect(plain.mount == DirectoryMount.none && plain.mode == 0o700)
        // On a tmpfs (the default) ro and noexec have a mount to enforce them.
        let readOnly = try DirectoryRequest.parse(Self.template + ",ro,noexec")
        #expect(readOnly.readOnly && readOnly.noExec && readOnly.mount == .capped)
    }

    @Test func parsesABindSourceAndASeparateGroup() throws {
        let request = try DirectoryRequest.parse(Self.template + ",bind=/data/%%FRACTAL_ID_PLACEHOLDER%%,owner=5,group=6,rw,exec,nosuid,nodev,mode=2770")
        #expect(request.mount == .bind(source: "/data/%%FRACTAL_ID_PLACEHOLDER%%"))
        #expect(request.owner == 5 && request.group == 6)
        #expect(request.mode == 0o2770)
        #expect(!request.readOnly && !request.noExec && request.noSuid && request.noDev)
    }

    @Test(arguments: [
        ("512", UInt64(512)), ("1K", 1024), ("1k", 1024), ("3M", 3 << 20), ("2g", 2 << 30), ("16G", 16 << 30),
    ])
    func parsesSizes(text: String, bytes: UInt64) throws {
        #expect(try DirectoryRequest.parse(Self.template + ",tmpfs=" + text).mount == .tmpfs(sizeBytes: bytes))
    }

    @Test(arguments: [
        "", ",tmpfs=1M", "TEMPLATE,", "TEMPLATE,,ro", "TEMPLATE,tmpfs", "TEMPLATE,tmpfs=", "TEMPLATE,tmpfs=0",
        "TEMPLATE,tmpfs=-1", "TEMPLATE,tmpfs=+1", "TEMPLATE,tmpfs=1T", "TEMPLATE,tmpfs=1.5G", "TEMPLATE,tmpfs=99999999999G",
        "TEMPLATE,mode=0800", "TEMPLATE,mode=17777", "TEMPLATE,mode=+750", "TEMPLATE,mode=", "TEMPLATE,owner=root",
        "TEMPLATE,owner=1:2:3", "TEMPLATE,owner=1:", "TEMPLATE,owner=4294967295", "TEMPLATE,owner=1:2,group=3",
        "TEMPLATE,group=x", "TEMPLATE,tmpfs=1M,bind=/x", "TEMPLATE,tmpfs=1M,tmpfs=2M", "TEMPLATE,tmpfs=1M,ro,rw",
        "TEMPLATE,tmpfs=1M,ro,ro", "TEMPLATE,tmpfs=1M,exec,noexec", "TEMPLATE,keep,keep", "TEMPLATE,keep=yes",
        "TEMPLATE,ro=1", "TEMPLATE,size=1M", "TEMPLATE,bind=", "TEMPLATE,RO",
        "TEMPLATE,inodes", "TEMPLATE,inodes=", "TEMPLATE,inodes=0", "TEMPLATE,inodes=-1", "TEMPLATE,inodes=1K",
        "TEMPLATE,inodes=1,inodes=2", "TEMPLATE,plain,inodes=5", "TEMPLATE,inodes=5,plain", "TEMPLATE,bind=/x,inodes=5",
        "TEMPLATE,inodes=5,bind=/x", "TEMPLATE,plain,tmpfs=1M", "TEMPLATE,tmpfs=1M,plain", "TEMPLATE,plain,bind=/x",
        "TEMPLATE,plain,plain", "TEMPLATE,plain=1",
    ])
    func refusesMalformedSpecs(spec: String) {
        let spec = spec.replacing("TEMPLATE", with: Self.template)
        #expect {
            try DirectoryRequest.parse(spec)
        } throws: { error in
            guard case .invalidSpec(let text, _) = error as? DirectoryError else { return false }
            return text == spec
        }
    }

    @Test func refusesACommaInAPathAsTheCommandLineFormWould() {
        // JSON could carry one, but its command-line form (the spec) ends the path there.
        #expect(throws: DirectoryError.self) { try DirectoryRequest(template: "/tmp/a,b/%%FRACTAL_ID_PLACEHOLDER%%").validate() }
        #expect(throws: DirectoryError.self) { try DirectoryRequest(template: Self.template, mount: .bind(source: "/srv/a,b")).validate() }
    }

    @Test func refusesATemplateWithoutPlaceholder() {
        #expect(throws: DirectoryError.noPlaceholder("/srv/shared")) { try DirectoryRequest.parse("/srv/shared,tmpfs=1M") }
    }

    @Test func refusesARelativeTemplate() {
        let template = "srv/%%FRACTAL_ID_PLACEHOLDER%%"
        #expect(throws: DirectoryError.notAbsolute(template)) { try DirectoryRequest.parse(template) }
    }

    @Test(arguments: ["/srv/../etc/%%FRACTAL_ID_PLACEHOLDER%%", "/srv/./%%FRACTAL_ID_PLACEHOLDER%%", "/srv/%%FRACTAL_ID_PLACEHOLDER%%/.."])
    func refusesDotComponents(template: String) {
        #expect(throws: DirectoryError.dotDotComponent(template)) { try DirectoryRequest.parse(template) }
    }

    @Test func refusesReadOnlyOrNoExecWithoutAMount() {
        for spec in [Self.template + ",plain,ro", Self.template + ",plain,noexec"] {
            #expect {
                try DirectoryRequest.parse(spec)
            } throws: { error in
                guard case .invalidRequest(let template, _) = error as? DirectoryError else { return false }
                return template == Self.template
            }
        }
    }

    @Test func refusesARelativeOrClimbingBindSource() {
        #expect(throws: DirectoryError.notAbsolute("data")) { try DirectoryRequest.parse(Self.template + ",bind=data") }
        #expect(throws: DirectoryError.dotDotComponent("/data/../etc")) { try DirectoryRequest.parse(Self.template + ",bind=/data/../etc") }
    }

    @Test func validateRefusesAZeroSizeTmpfsAndModeBitsAboveSeventySevenSeventySeven() {
        #expect(throws: DirectoryError.self) { try DirectoryRequest(template: Self.template, mount: .tmpfs(sizeBytes: 0)).validate() }
        #expect(throws: DirectoryError.self) { try DirectoryRequest(template: Self.template, mount: .tmpfs(inodes: 0)).validate() }
        #expect(throws: DirectoryError.self) { try DirectoryRequest(template: Self.template, mode: 0o10000).validate() }
    }

    @Test(arguments: [
        "/srv/%%FRACTAL_ID_PLACEHOLDER%%",
        "/srv/%%FRACTAL_ID_PLACEHOLDER%%,tmpfs=64M,mode=0700,owner=1000,group=1001,ro,noexec,suid,dev,keep",
        "/srv/%%FRACTAL_ID_PLACEHOLDER%%,bind=/data/x,mode=0755",
        "/srv/%%FRACTAL_ID_PLACEHOLDER%%,tmpfs=1000",
        "/srv/%%FRACTAL_ID_PLACEHOLDER%%,tmpfs=1536K",
        "/srv/%%FRACTAL_ID_PLACEHOLDER%%,tmpfs=2G,inodes=100",
        "/srv/%%FRACTAL_ID_PLACEHOLDER%%,inodes=100",
        "/srv/%%FRACTAL_ID_PLACEHOLDER%%,plain,mode=0700,keep",
    ])
    func specRoundTrips(spec: String) throws {
        let request = try DirectoryRequest.parse(spec)
        #expect(request.spec == spec)
        #expect(try DirectoryRequest.parse(request.spec) == request)
    }

    @Test func decodesJSONWithOnlyATemplate() throws {
        let json = #"{"template": "/srv/%%FRACTAL_ID_PLACEHOLDER%%"}"#
        let request = try JSONDecoder().decode(DirectoryRequest.self, from: Data(json.utf8))
        #expect(request == DirectoryRequest(template: "/srv/%%FRACTAL_ID_PLACEHOLDER%%"))
    }

    @Test func decodesTheModeAsANumberOrAnOctalString() throws {
        func mode(_ json: String) throws -> UInt32 {
            try JSONDecoder().decode(DirectoryRequest.self, from: Data(#"{"template": "/srv/%%FRACTAL_ID_PLACEHOLDER%%", "mode": \#(json)}"#.utf8)).mode
        }
        #expect(try mode("488") == 0o750)
        #expect(try mode(#""0700""#) == 0o700)
        #expect(try mode(#""2750""#) == 0o2750)
        #expect(throws: DecodingError.self) { try mode(#""rwx""#) }
        #expect(throws: DecodingError.self) { try mode(#""0980""#) }
    }

    @Test func roundTripsThroughJSON() throws {
        for mount in [DirectoryMount.none, .capped, .tmpfs(sizeBytes: 4096), .tmpfs(inodes: 7), .bind(source: "/data")] {
            let request = DirectoryRequest(template: Self.template, mode: 0o700, owner: 1, group: 2, mount: mount, keep: true)
            let data = try JSONEncoder().encode(request)
            #expect(try JSONDecoder().decode(DirectoryRequest.self, from: data) == request)
        }
    }

    @Test func mountsEncodeWithAType() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let tmpfs = String(decoding: try encoder.encode(DirectoryMount.tmpfs(sizeBytes: 1024)), as: UTF8.self)
        #expect(tmpfs == #"{"sizeBytes":1024,"type":"tmpfs"}"#)
        #expect(String(decoding: try encoder.encode(DirectoryMount.capped), as: UTF8.self) == #"{"type":"tmpfs"}"#)
        #expect(try JSONDecoder().decode(DirectoryMount.self, from: Data(#"{"type":"none"}"#.utf8)) == DirectoryMount.none)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(DirectoryMount.self, from: Data(#"{"type":"nfs"}"#.utf8)) }
    }

    @Test func limitsFillInTheDefaultsAndRefuseMoreThanTheMaximum() throws {
        let limits = DirectoryLimits(defaultSizeBytes: 1 << 30, defaultInodes: 65536, maximumSizeBytes: 4 << 30)
        #expect(limits.maximumInodes == 65536)
        #expect(limits.problem == nil)
        let caps = try limits.tmpfsCaps(for: try DirectoryRequest.parse(Self.template))
        #expect(caps.sizeBytes == 1 << 30 && caps.inodes == 65536)
        let smaller = try limits.tmpfsCaps(for: try DirectoryRequest.parse(Self.template + ",tmpfs=64M,inodes=100"))
        #expect(smaller.sizeBytes == 64 << 20 && smaller.inodes == 100)
        #expect(try limits.tmpfsCaps(for: try DirectoryRequest.parse(Self.template + ",tmpfs=4G")).sizeBytes == 4 << 30)
        for spec in [",tmpfs=5G", ",inodes=65537"] {
            #expect {
                try limits.tmpfsCaps(for: try DirectoryRequest.parse(Self.template + spec))
            } throws: { error in
                guard case .invalidRequest(let template, let reason) = error as? DirectoryError else { return false }
                return template == Self.template && reason.contains("operator's maximum") && reason.contains("--directory-max-")
            }
        }
        #expect(DirectoryLimits(defaultSizeBytes: 2 << 30, maximumSizeBytes: 1 << 30).problem != nil)
        #expect(DirectoryLimits(defaultInodes: 0).problem != nil)
        #expect(throws: DirectoryError.self) { try DirectoryProvisioner(allowedRoots: ["/tmp"], limits: DirectoryLimits(defaultSizeBytes: 0)) }
    }

    @Test func errorsSayWhatToDo() {
        #expect(DirectoryError.noPlaceholder("/srv/x").description.contains("%%FRACTAL_ID_PLACEHOLDER%%"))
        let system = DirectoryError.system(operation: "mount tmpfs on", path: "/srv/x", errno: EPERM).description
        #expect(system.contains("Operation not permitted") && system.contains("CAP_SYS_ADMIN") && system.contains("/srv/x"))
    }
}

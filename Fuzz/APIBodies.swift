// libFuzzer target `api-bodies`: a request body sent to the daemon's API, decoded as each JSON
// body the API takes (`POST /v1/leases`, `/v1/leases/{id}/devices`, `/v1/leases/{id}/events`)
// the way APIRoutes decodes it (Foundation's JSONDecoder), then checked the way the route turns
// it into a domain request: FractalID, device roles, input policy, each directory request
// validated and placed below an allowed root. (The route's own conversion is private to the
// daemon; the checks it calls are these public ones.)
//
// Properties checked beyond "no crash": a decoded body encodes and decodes back to the same
// JSON; a directory request that validates survives its command-line form (`parse(spec)`), as
// DirectoryRequest documents; FractalID survives its text form.

import DeviceManager
import FractalAPI
import Foundation

private let session = try! FractalID("0123456789abcdef0123456789abcdef")
// Lexical checks only: path(for:id:) touches no file. /tmp exists wherever this runs.
private let provisioner = try! DirectoryProvisioner(allowedRoots: ["/tmp"])

@_cdecl("LLVMFuzzerTestOneInput")
public func apiBodiesFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let body = size > 0 ? Data(bytes: data!, count: size) : Data()
    if let request = decodeAndRoundTrip(CreateLeaseRequest.self, body) {
        checkLease(request)
    }
    if let request = decodeAndRoundTrip(PlugRequest.self, body) {
        _ = DeviceRole(rawValue: request.role)
    }
    if let request = decodeAndRoundTrip(InjectRequest.self, body) {
        _ = DeviceRole(rawValue: request.role)
        for event in request.events { _ = event.description }
    }
    // The path parameter `{id}` and `?id=`: the same text, as a FractalID.
    checkID(String(decoding: body, as: UTF8.self))
    return 0
}

/// Decodes `body` as the route does; what decodes encodes to JSON that decodes to the same.
func decodeAndRoundTrip<T: Codable>(_: T.Type, _ body: Data) -> T? {
    guard let value = try? JSONDecoder().decode(T.self, from: body) else { return nil }
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    do {
        let json = try encoder.encode(value)
        let again = try encoder.encode(JSONDecoder().decode(T.self, from: json))
        guard json == again else {
            fatalError("\(T.self) changed in a JSON round trip:\n\(String(decoding: json, as: UTF8.self))\n\(String(decoding: again, as: UTF8.self))")
        }
    } catch {
        fatalError("\(T.self) does not survive a JSON round trip: \(error)")
    }
    return value
}

func checkLease(_ body: CreateLeaseRequest) {
    if let text = body.id { checkID(text) }
    for name in (body.devices ?? []) + (body.hotplug ?? []) { _ = DeviceRole(rawValue: name) }
    if let name = body.policy { _ = InputPolicy(rawValue: name) }
    for request in body.directories ?? [] {
        do throws(DirectoryError) {
            try request.validate()
        } catch {
            _ = error.description
            continue
        }
        do throws(DirectoryError) {
            let path = try provisioner.path(for: request.template, id: session)
            guard path.hasPrefix("/tmp/"), path.contains(session.rawValue) else {
                fatalError("directory '\(request.template)' placed at '\(path)', outside /tmp or without the ID")
            }
        } catch {
            _ = error.description
        }
        do throws(DirectoryError) {
            let again = try DirectoryRequest.parse(request.spec)
            guard again == request else { fatalError("directory request \(request) reads back from '\(request.spec)' as \(again)") }
        } catch {
            fatalError("directory request \(request) has spec '\(request.spec)', which is refused: \(error)")
        }
    }
}

func checkID(_ text: String) {
    guard let id = try? FractalID(text) else { return }
    guard let again = try? FractalID(id.rawValue), again == id else { fatalError("FractalID '\(text)' does not survive its text form") }
}

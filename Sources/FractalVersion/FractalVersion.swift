// The values live in the generated Version.swift (see Plugins/VersionPlugin).

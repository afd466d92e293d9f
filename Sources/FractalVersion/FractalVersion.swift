// The values live in Version.swift, generated at build time from VERSION (see Plugins/BuildInfoPlugin).

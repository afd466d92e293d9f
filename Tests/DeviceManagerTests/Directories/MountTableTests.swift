import DeviceManager
import Testing

@Suite struct DirectoryMountTableTests {
    static let sample = """
        22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
        30 22 0:25 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
        41 22 0:39 / /srv/with\\040space rw,nosuid,nodev - tmpfs fractal-abc rw,size=1024k,mode=750,uid=1000
        42 41 0:40 / /srv/with\\040space/tab\\011and\\134backslash rw master:3 shared:7 - tmpfs none rw
        43 22 8:1 /data/src /srv/bound ro,nosuid,nodev - ext4 /dev/sda1 rw
        44 22 0:41 / /srv/boundary rw - tmpfs none rw
        45 43 0:42 / /srv/bound/inner rw - tmpfs none rw

        """

    @Test func parsesFieldsAndDecodesEscapes() throws {
        let table = try MountTable(parsing: Self.sample)
        #expect(table.entries.count == 7)
        let spaced = table.entries[2]
        #expect(spaced.mountID == 41 && spaced.parentID == 22 && spaced.device == "0:39")
        #expect(spaced.mountPoint == "/srv/with space")
        #expect(spaced.options == ["rw", "nosuid", "nodev"])
        #expect(spaced.propagation.isEmpty)
        #expect(spaced.fileSystemType == "tmpfs" && spaced.source == "fractal-abc")
        #expect(spaced.superOptions == ["rw", "size=1024k", "mode=750", "uid=1000"])
        let nested = table.entries[3]
        #expect(nested.mountPoint == "/srv/with space/tab\tand\\backslash")
        #expect(nested.propagation == ["master:3", "shared:7"])
        #expect(table.entries[4].root == "/data/src")
    }

    @Test func decodesAnEscapedNewlineAndLeavesStrayBackslashes() throws {
        let table = try MountTable(parsing: "50 22 0:1 / /a\\012b\\x\\9 rw - tmpfs none rw\n")
        #expect(table.entries[0].mountPoint == "/a\nb\\x\\9")
    }

    @Test func tellsMountPoints() throws {
        let table = try MountTable(parsing: Self.sample)
        #expect(table.isMountPoint("/srv/with space"))
        #expect(table.isMountPoint("/srv//bound/"))
        #expect(!table.isMountPoint("/srv"))
        #expect(!table.isMountPoint("/srv/with"))
    }

    @Test func listsMountsUnderAPrefixLatestFirst() throws {
        let table = try MountTable(parsing: Self.sample)
        #expect(table.mounts(under: "/srv/bound").map(\.mountID) == [45, 43])
        #expect(table.mounts(under: "/srv/with space/").map(\.mountID) == [42, 41])
        #expect(table.mounts(under: "/srv").map(\.mountID) == [45, 44, 43, 42, 41])
        #expect(table.mounts(under: "/nowhere").isEmpty)
        #expect(table.mounts(under: "/").count == 7)
    }

    @Test(arguments: [
        "22 1 8:1 / / rw,relatime shared:1 ext4 /dev/sda1 rw",
        "22 1 8:1 / / - ext4 /dev/sda1 rw",
        "x 1 8:1 / / rw - ext4 /dev/sda1 rw",
        "22 1 8:1 / / rw - ext4 /dev/sda1",
    ])
    func refusesMalformedLines(line: String) {
        #expect(throws: DirectoryError.self) { try MountTable(parsing: line) }
    }

    @Test func readsThisProcessesMounts() throws {
        let table = try MountTable.current()
        #expect(table.isMountPoint("/"))
        #expect(table.isMountPoint("/proc"))
    }
}

import Glibc

/// The IP addresses a device port serves, for SIO_ADDRESS_LIST_QUERY: the addresses of the
/// network interfaces behind it — on RoCE the netdevs of its GID table
/// (`/sys/class/infiniband/DEV/ports/N/gid_attrs/ndevs/*`), on InfiniBand the IPoIB interfaces of
/// the same PCI function (`/sys/class/infiniband/DEV/device/net/*`).
enum VerbsAddresses {
    static func of(device: String, port: UInt8) -> [VerbsSocketAddress] {
        let root = "/sys/class/infiniband/\(device)"
        var names = Set<String>()
        let ndevs = "\(root)/ports/\(port)/gid_attrs/ndevs"
        for entry in Self.entries(of: ndevs) {
            if let name = Self.firstLine(of: "\(ndevs)/\(entry)"), !name.isEmpty { names.insert(name) }
        }
        if names.isEmpty { names.formUnion(Self.entries(of: "\(root)/device/net")) }
        return Self.interfaceAddresses(names)
    }

    private static func entries(of directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var out: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out
    }

    /// The first line of a small sysfs file (an unset GID's ndev file fails to read: nil).
    private static func firstLine(of path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
    }

    private static func interfaceAddresses(_ names: Set<String>) -> [VerbsSocketAddress] {
        guard !names.isEmpty else { return [] }
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var out: [VerbsSocketAddress] = []
        var cursor = list
        while let ifa = cursor {
            cursor = ifa.pointee.ifa_next
            guard let name = ifa.pointee.ifa_name, names.contains(String(cString: name)),
                  let addr = ifa.pointee.ifa_addr else { continue }
            let length: Int32
            switch Int32(addr.pointee.sa_family) {
            case AF_INET: length = Int32(MemoryLayout<sockaddr_in>.size)
            case AF_INET6: length = Int32(MemoryLayout<sockaddr_in6>.size)
            default: continue
            }
            if case .success(let a) = VerbsSocketAddress.from(addr, length: length), !out.contains(a) { out.append(a) }
        }
        return out
    }
}

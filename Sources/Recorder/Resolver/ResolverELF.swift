#if canImport(Glibc)
import Glibc
#endif

/// Just enough ELF64 reading for the resolver probes: a file's PT_INTERP and
/// the file offsets of named exported functions. Reads only the headers and
/// the dynamic symbol table (pread), so arming a fresh libc costs well under
/// a millisecond instead of one full ELF parse per probe in libbpf.
enum ResolverELF {
    private static func u16(_ b: [UInt8], _ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
    private static func u32(_ b: [UInt8], _ o: Int) -> UInt32 {
        UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
    }
    private static func u64(_ b: [UInt8], _ o: Int) -> UInt64 {
        UInt64(u32(b, o)) | UInt64(u32(b, o + 4)) << 32
    }
    private static func read(_ fd: Int32, _ off: UInt64, _ n: Int) -> [UInt8]? {
        guard n > 0, n < 64 << 20 else { return nil }
        var b = [UInt8](repeating: 0, count: n)
        var got = 0
        while got < n {
            let r = b.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, n - got, off_t(off) + off_t(got)) }
            if r < 0 && errno == EINTR { continue }
            guard r > 0 else { return nil }
            got += r
        }
        return b
    }

    /// The ELF header of a little-endian ELF64 file.
    private static func header(_ fd: Int32) -> [UInt8]? {
        guard let h = read(fd, 0, 64), h[0] == 0x7f, h[1] == 0x45, h[2] == 0x4c, h[3] == 0x46, h[4] == 2, h[5] == 1 else {
            return nil
        }
        return h
    }

    private static func programHeaders(_ fd: Int32, _ h: [UInt8]) -> [(type: UInt32, offset: UInt64, vaddr: UInt64, filesz: UInt64)]? {
        let phoff = u64(h, 32), phentsize = u16(h, 54), phnum = u16(h, 56)
        guard phentsize >= 56, phnum > 0, phnum < 512, let ph = read(fd, phoff, phentsize * phnum) else { return nil }
        return (0..<phnum).map { i in
            let o = i * phentsize
            return (u32(ph, o), u64(ph, o + 8), u64(ph, o + 16), u64(ph, o + 32))
        }
    }

    /// PT_INTERP: the path; "" when there is none (statically linked); nil when not a readable ELF64.
    static func interpreter(_ fd: Int32) -> String? {
        guard let h = header(fd), let phs = programHeaders(fd, h) else { return nil }
        guard let p = phs.first(where: { $0.type == 3 }) else { return "" }
        guard let s = read(fd, p.offset, min(Int(p.filesz), 4096)) else { return nil }
        return String(decoding: s.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// File offsets (what a uprobe takes) of the defined functions among `names`.
    static func functionOffsets(_ fd: Int32, names: Set<String>) -> [String: UInt64] {
        guard let h = header(fd), let phs = programHeaders(fd, h) else { return [:] }
        let shoff = u64(h, 40), shentsize = u16(h, 58), shnum = u16(h, 60)
        guard shentsize >= 64, shnum > 0, shnum < 4096, let sh = read(fd, shoff, shentsize * shnum) else { return [:] }
        func section(_ i: Int) -> (type: UInt32, offset: UInt64, size: UInt64, link: Int, entsize: UInt64) {
            let o = i * shentsize
            return (u32(sh, o + 4), u64(sh, o + 24), u64(sh, o + 32), Int(u32(sh, o + 40)), u64(sh, o + 56))
        }
        // The dynamic symbol table (exports); a full symtab only if there is none.
        let tables = (0..<shnum).map(section)
        guard let symIdx = tables.firstIndex(where: { $0.type == 11 }) ?? tables.firstIndex(where: { $0.type == 2 }) else { return [:] }
        let sym = tables[symIdx]
        guard sym.link < shnum, sym.entsize >= 24 else { return [:] }
        let str = tables[sym.link]
        guard let syms = read(fd, sym.offset, Int(sym.size)), let strs = read(fd, str.offset, Int(str.size)) else { return [:] }
        var out: [String: UInt64] = [:]
        let count = Int(sym.size / sym.entsize)
        let maxLen = names.map(\.utf8.count).max() ?? 0
        for i in 1..<max(count, 1) {
            let o = i * Int(sym.entsize)
            let info = syms[o + 4], shndx = u16(syms, o + 6), value = u64(syms, o + 8)
            guard info & 0xf == 2, shndx != 0, value != 0 else { continue }  // STT_FUNC, defined
            let bind = info >> 4
            guard bind == 1 || bind == 2 else { continue }                      // GLOBAL or WEAK
            let n = Int(u32(syms, o))
            guard n < strs.count else { continue }
            var end = n
            while end < strs.count, strs[end] != 0, end - n <= maxLen { end += 1 }
            guard end < strs.count, strs[end] == 0 else { continue }
            let name = String(decoding: strs[n..<end], as: UTF8.self)
            guard names.contains(name), out[name] == nil || bind == 1 else { continue }
            guard let seg = phs.first(where: { $0.type == 1 && value >= $0.vaddr && value < $0.vaddr + $0.filesz }) else { continue }
            out[name] = value - seg.vaddr + seg.offset
        }
        return out
    }
}

import CEventABI
import Events
import Format
import XCTest

/// The flag and kind values Swift spells for the timeline are the header's
/// (bpf/nettrail.h): a change on one side fails here, not in a capture.
final class ABIMirrorTests: XCTestCase {
    func testSocketFlagsAreTheHeaders() {
        let pairs: [(SocketFlags, UInt32)] = [
            (.owner, NT_SF_OWNER), (.noState, NT_SF_NO_STATE), (.localAny, NT_SF_LADDR_ANY),
            (.remoteUnknown, NT_SF_RADDR_UNKNOWN), (.notSyscall, NT_SF_NOT_SYSCALL), (.udpReceive, NT_SF_UDP_RX),
            (.established, NT_SF_ESTABLISHED), (.snapshot, NT_SF_SNAPSHOT), (.shared, NT_SF_SHARED),
        ]
        for (flag, c) in pairs { XCTAssertEqual(flag.rawValue, Int(c)) }
    }

    func testExecConntrackAndDNSFlagsAreTheHeaders() {
        XCTAssertEqual(ExecFlags.argsTruncated, Int(NT_F_ARGS_TRUNCATED))
        XCTAssertEqual(ExecFlags.filenameTruncated, Int(NT_F_FILENAME_TRUNCATED))
        XCTAssertEqual(ExecFlags.threadExec, Int(NT_F_THREAD_EXEC))
        XCTAssertEqual(ConntrackFlags.reopen.rawValue, Int(NT_CT_F_REOPEN))
        XCTAssertEqual(ConntrackFlags.snapshot.rawValue, Int(NT_CT_F_SNAPSHOT))
        XCTAssertEqual(ConntrackFlags.netlink.rawValue, Int(NT_CT_F_NETLINK))
        XCTAssertEqual(ConntrackFlags.rst.rawValue, Int(NT_CT_F_RST))
        XCTAssertEqual(DNSFlags.nameTruncated.rawValue, Int(NT_DNS_F_NAME_TRUNCATED))
        XCTAssertEqual(DNSFlags.addressesTruncated.rawValue, Int(NT_DNS_F_ADDRS_TRUNCATED))
        XCTAssertEqual(DNSFlags.nameUnreadable.rawValue, Int(NT_DNS_F_NAME_UNREADABLE))
    }

    func testDNSFunctionsAreTheHeaders() {
        let pairs: [(DNSFunction, nt_dns_func)] = [
            (.getaddrinfo, NT_DNS_GETADDRINFO), (.gethostbyname, NT_DNS_GETHOSTBYNAME), (.gethostbyname2, NT_DNS_GETHOSTBYNAME2),
        ]
        for (f, c) in pairs { XCTAssertEqual(f.rawValue, Int(c.rawValue)) }
    }

    /// Every kind below NT_KIND_MAX has a name, and every archived kind exactly one decoder.
    func testEveryKindIsNamedAndDecodedOnce() {
        for k in 1..<NT_KIND_MAX.rawValue { XCTAssertFalse(EventKind.name(k).hasPrefix("kind"), "kind \(k) has no name") }
        let kinds = RecordDecoders.all().flatMap(\.kinds).map(\.rawValue)
        XCTAssertEqual(kinds.count, Set(kinds).count, "a kind has two decoders")
        for row in RecordDecoders.layoutRows() {
            XCTAssertEqual(row.abiVersion, Int(NT_ABI_VERSION))
            XCTAssertEqual(row.size % 8, 0, "\(row.structName) is not a multiple of 8 bytes")
        }
    }
}
